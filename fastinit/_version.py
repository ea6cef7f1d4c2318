"""fastinit's version and its stream layout's version: one home each.

``STREAM_LAYOUT`` numbers the layout of docs/streams.md (how seed, stream and element index
become bits).  Any change of bits raises it, is announced in CHANGELOG.md and regenerates the
golden values (tests/core/test_golden.py); files record it (``fastinit.stream_layout``) and Dask
graph keys include it, so bits from different layouts are never mixed up.
"""

__version__ = "0.1.0"
STREAM_LAYOUT = 5
