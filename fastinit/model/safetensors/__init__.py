"""safetensors files: written in place, resumable, with per-tensor digests; read defensively.

- ``format``: file names, dtype codes, the header fastinit writes (``layout``) and its digests
- ``sharding``: Hugging Face's ``max_shard_size`` policy (``parse_size``, ``shards``)
- ``geometry``: a run of flat elements as shard-fill boxes (``flat_boxes``)
- ``stream``: the chunked ``O_DIRECT`` writer thread
- ``resume``: the progress record and what a resumed fill may trust
- ``writer``: ``write`` -- the file protocol (lock, create, fill, digests, rename); ``finalize``,
  the index of shards filled by several processes
- ``reader``: ``read_header``/``open_tensors`` -- validation of files from anyone
- ``integrity``: ``check`` -- digests and headers against a spec, at disk speed
"""

from ..output import reserve
from .format import ALIGN, CODES, FILENAME, INDEX, SHARD, layout, shard_name
from .geometry import flat_boxes
from .integrity import check
from .reader import incomplete, model_files, open_tensors, read_header
from .sharding import assign, parse_size, shards
from .writer import finalize, write

__all__ = ["ALIGN", "CODES", "FILENAME", "INDEX", "SHARD", "assign", "check", "finalize", "flat_boxes", "incomplete",
           "layout", "model_files", "open_tensors", "parse_size", "read_header", "reserve", "shard_name", "shards",
           "write"]
