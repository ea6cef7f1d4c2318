"""``fastinit`` command line: fill, plan, verify model files; list presets.

    fastinit fill SPEC -o DIR [--format safetensors|npy] [--seed N] [--dtype bf16|f16|f32|f64]
                             [--threads N] [--resume | --overwrite] [--quiet] [--max-shard-size 5GB]
                             [--shard-index I --num-shards N | --shards FILE,... | --finalize | --dask ADDRESS]
    fastinit plan SPEC [--dtype ...]
    fastinit verify SPEC DIR [--seed N] [--dtype ...] [--full] [--samples K]
                             [--max-shard-size 5GB --shard-index I --num-shards N | --shards FILE,...]
    fastinit presets
    fastinit probe | advise | gains | coord-check    (signal propagation: fastinit.cli_signal)

SPEC is a spec file (TOML or JSON), an HF config.json, or a preset name (``fastinit presets``).
With transformers installed (the ``hf`` extra), a config.json is any model transformers
builds from a config, initialized as its own init code does (``fastinit.torch.hf``), and
``fill`` writes the config.json beside the weights.
Exit status: 0 success, 1 verification failed, 2 bad spec or arguments or an extra not
installed, 3 the files could not be written (disk full, file size limit, unwritable
directory: nothing looks complete),
4 refused: the output (or a config.json that differs) exists (``--overwrite``), it holds
the other format's model, another process is filling it, or ``--resume`` found an
interrupted fill of another spec; 130 interrupted (Ctrl-C; a fill can
be resumed).  The library's errors never name flags: this module maps them to the flags.
"""

import argparse
import os
import sys
import time

from . import _validate
from ._extras import require
from ._version import __version__
from .model import presets
from .model.errors import FileError, ForeignFiles, Incomplete, Locked, OtherFormat, OutputExists, ResumeMismatch
from .model.safetensors import parse_size
from .model.sources import load
from .model.spec import SpecError, canonical_dtype
from .model.writer import FORMATS, fill, finalize, shard_files, verify


class ConfigExists(OutputExists):
    """DIR/config.json exists and differs from the one this fill writes beside the weights."""


# what to do about each refusal, in flags (the first class that matches)
ADVICE = {
    ConfigExists: "move it away or choose another output directory (-o), or pass --overwrite to replace it "
                  "(which also fills the weights again from the start)",
    ForeignFiles: "choose another output directory (-o), or pass --overwrite to replace them",
    OutputExists: "pass --overwrite to replace it (or --resume to continue an interrupted fill of the same spec)",
    ResumeMismatch: "rerun with the interrupted fill's options to resume it, or pass --overwrite to start over",
    Locked: "",
    Incomplete: "rerun the same fill with --resume",
    OtherFormat: "choose another output directory (-o), or remove those files first",
}
OS_ADVICE = {
    PermissionError: "; choose an output directory you can write to (-o)",
    NotADirectoryError: "; a file is in the way: choose another output directory (-o)",
    FileNotFoundError: "; check the path",
}


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024


def _config(path):
    """The dict of an HF config.json at ``path``, else None."""
    import json

    if not (isinstance(path, str) and os.path.isfile(path)):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if presets.is_config(data) else None


def _bar_available():
    """The progress bar's tqdm, if a terminal would show it; else one line naming the extra."""
    if not sys.stderr.isatty():
        return True
    try:
        require("tqdm", "files", "the progress bar")
    except ModuleNotFoundError as exc:  # a fill without a bar beats no fill
        print(f"fastinit: {exc} (or --quiet)", file=sys.stderr)
        return False
    return True


def _spec(args):
    import importlib.util

    config = _config(args.spec)
    args.hf_config = config
    dtype = None if args.dtype is None else canonical_dtype(args.dtype, "--dtype")
    if config is not None and importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"):
        from .torch.hf import spec_from_config  # the model transformers builds, its own init recorded

        return spec_from_config(config, dtype=dtype).with_options(seed=getattr(args, "seed", None))
    spec = load(args.spec)   # presets: no transformers needed
    return spec.with_options(seed=getattr(args, "seed", None), dtype=dtype)


def _config_bytes(args, spec):
    """The config.json to write beside the weights, its dtype the file's (so from_pretrained(DIR)
    loads them), or None when the spec is not an HF config."""
    import json

    config = dict(getattr(args, "hf_config", None) or {})
    if not config:
        return None
    dtypes = {t.dtype for t in spec.tensors}
    if len(dtypes) == 1:
        config["dtype"] = dtypes.pop()
        config.pop("torch_dtype", None)
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def _differs(path, data):
    with open(path, "rb") as f:
        return f.read(len(data) + 1) != data


def _check_config(args, data):
    """Refuse, before the fill writes anything, to replace a DIR/config.json that differs from
    ``data`` (a fill's own config.json, on --resume or --finalize, is the same bytes)."""
    path = os.path.join(args.output, "config.json")
    if data is None or args.overwrite or not os.path.lexists(path) or not _differs(path, data):
        return
    if os.path.exists(args.spec) and os.path.samefile(args.spec, path):
        raise ConfigExists(path, "is the config this fill reads; the config.json a fill writes beside the "
                                 "weights has sorted keys and the weights' dtype, so it would replace it")
    raise ConfigExists(path, "already exists and differs from the config.json this fill writes beside "
                             "the weights (the spec's, its dtype the weights')")


def _write_config(args, data):
    """DIR/config.json = ``data``: left as it is if it holds those bytes, replaced only with
    --overwrite (else ``ConfigExists``; one created since ``_check_config`` is not replaced)."""
    import secrets

    if data is None or not os.path.isdir(args.output):   # a process of a sharded fill with no file of its own
        return
    path = os.path.join(args.output, "config.json")
    # processes of one sharded fill, on any host, write it at once: a name of its own each
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    with open(tmp, "xb") as f:
        f.write(data)
    try:
        if args.overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)                       # never over a file: fails if one is there
            return
        except FileExistsError:
            pass                                     # the same bytes (another process of this fill): done
        except OSError:                              # a file system without hard links
            if not os.path.exists(path):
                os.replace(tmp, path)
                return
        if _differs(path, data):
            raise ConfigExists(path, "appeared during the fill and differs from the config.json this fill "
                                     "writes; the weights are complete, config.json was not written")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_positive, _index = _validate.int_arg(1), _validate.int_arg(0)


def _shard_size(value):
    try:
        return parse_size(value)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("max_shard_size: ")) from None


def _files(args, spec):
    """The shard files this process fills or checks (None: all), from --shard-index/--num-shards
    or --shards; they need --max-shard-size."""
    chosen = [flag for flag, value in (("--shard-index", args.shard_index), ("--num-shards", args.num_shards),
                                       ("--shards", args.shards)) if value is not None]
    if not chosen:
        return None
    if args.max_shard_size is None:
        raise SpecError(f"{chosen[0]}: needs --max-shard-size (the shard layout is computed from it)")
    if args.shards is not None:
        if len(chosen) > 1:
            raise SpecError("--shards: give either --shards or --shard-index/--num-shards, not both")
        names = [n.strip() for n in args.shards.split(",") if n.strip()]
        planned = shard_files(spec, args.max_shard_size)
        unknown = [n for n in names if os.path.basename(n) not in planned]
        if not names or unknown:
            raise SpecError(f"--shards: {unknown[0] if unknown else repr(args.shards)} is not a file of this model at "
                            f"--max-shard-size; its files are {planned[0]} ... {planned[-1]} "
                            f"(see fastinit fill ... --max-shard-size SIZE --list-shards)")
        return names
    if args.shard_index is None or args.num_shards is None:
        raise SpecError("--shard-index, --num-shards: give both")
    if args.shard_index >= args.num_shards:
        raise SpecError(f"--shard-index: must be less than --num-shards ({args.num_shards}); got {args.shard_index}")
    return shard_files(spec, args.max_shard_size, args.shard_index, args.num_shards)


def cmd_fill(args):
    spec = _spec(args)
    if spec.seed is None:
        raise SpecError("seed: not set; give 'seed' in the spec or --seed N")
    if args.max_shard_size is not None and args.format != "safetensors":
        raise SpecError(f"--max-shard-size: only for --format safetensors, not {args.format!r}")
    only = _files(args, spec)
    for flag, on in (("--finalize", args.finalize), ("--dask", args.dask is not None),
                     ("--list-shards", args.list_shards)):
        if on and args.max_shard_size is None:
            raise SpecError(f"{flag}: needs --max-shard-size (the shard layout is computed from it)")
        if on and only is not None:
            raise SpecError(f"{flag}: not with --shard-index/--num-shards or --shards")
    if args.list_shards:
        for name in shard_files(spec, args.max_shard_size):
            print(name)
        return 0
    config = _config_bytes(args, spec)
    _check_config(args, config)
    if args.finalize:
        finalize(spec, args.output, args.max_shard_size)
        _write_config(args, config)
        if not args.quiet:
            print(f"wrote the index of {len(shard_files(spec, args.max_shard_size))} shards -> {args.output}",
                  file=sys.stderr)
        return 0
    start = time.perf_counter()
    if args.dask is not None:
        from .model import cluster
        filled = cluster.fill(spec, args.output, args.max_shard_size, client=args.dask, threads=args.threads,
                              resume=args.resume, overwrite=args.overwrite)
    else:
        filled = fill(spec, args.output, fmt=args.format, threads=args.threads, resume=args.resume,
                      overwrite=args.overwrite, quiet=args.quiet or not _bar_available(),
                      max_shard_size=args.max_shard_size, only=only)
    _write_config(args, config)
    elapsed = time.perf_counter() - start
    if not args.quiet:
        nbytes = sum(spec[name].nbytes for name in filled)
        total = len(spec.tensors) if only is None else len(_tensors_of(spec, args.max_shard_size, only))
        print(f"filled {len(filled)} of {total} tensors, {_size(nbytes)} in {elapsed:.2f} s "
              f"({nbytes / max(elapsed, 1e-9) / 1e9:.2f} GB/s) -> {args.output}", file=sys.stderr)
    return 0


def cmd_plan(args):
    spec = _spec(args)
    width = max(len(t.name) for t in spec.tensors)
    for t in spec.tensors:
        print(f"{t.name:<{width}}  {str(list(t.shape)):<16} {t.dtype:<9} {_size(t.nbytes):>11}  {t.scheme}")
    print(f"{len(spec.tensors)} tensors, {spec.numel:,} parameters, {_size(spec.nbytes)}, "
          f"seed {spec.seed if spec.seed is not None else '(not set)'}")
    return 0


def cmd_verify(args):
    spec = _spec(args)
    if spec.seed is None:
        raise SpecError("seed: not set; give 'seed' in the spec or --seed N")
    only = _files(args, spec)
    problems = verify(spec, args.dir, full=args.full, samples=args.samples, threads=args.threads, only=only,
                      max_shard_size=args.max_shard_size)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if not problems:
        count = len(spec.tensors) if only is None else \
            sum(1 for t in spec.tensors if t.name in _tensors_of(spec, args.max_shard_size, only))
        print(f"OK {count} tensors match (seed {spec.seed}, "
              f"{'every element' if args.full else f'digests, and {args.samples} random blocks per tensor'})")
    return 1 if problems else 0


def _tensors_of(spec, max_shard_size, names):
    from .model.safetensors import shards
    wanted = {os.path.basename(n) for n in names}
    return {t.name for name, sub in shards(spec, max_shard_size) if name in wanted for t in sub.tensors}


def cmd_presets(args):
    print("named presets (fastinit fill NAME ...):")
    for name, config in presets.NAMED.items():
        spec = presets.from_config(config)
        print(f"  {name:<12} {config['model_type']:<6} {spec.numel:>15,} parameters")
    print("config.json families (recognised by model_type/architectures): "
          f"{', '.join(sorted(presets.LLAMA_TYPES | presets.GPT2_TYPES))}; with transformers installed "
          "(the hf extra): any model_type transformers builds from a config")
    return 0


def parser():
    p = argparse.ArgumentParser(prog="fastinit", description="Fill model weight files in place, reproducibly.")
    p.add_argument("--version", action="version", version=f"fastinit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def shard_flags(q):
        q.add_argument("--shard-index", type=_index, metavar="I",
                       help="this process's number, 0 <= I < N: it takes shard files I, I+N, I+2N, ...")
        q.add_argument("--num-shards", type=_positive, metavar="N", help="how many processes share the shard files")
        q.add_argument("--shards", metavar="FILE,...", help="the shard files this process takes, comma-separated")

    def common(q, seed=True):
        q.add_argument("spec", help="spec file (TOML/JSON), HF config.json, or preset name")
        if seed:
            q.add_argument("--seed", type=_validate.seed_arg, metavar="N", help="overrides the spec's seed (0 <= N < 2**64)")
        q.add_argument("--dtype", help="every tensor's dtype: bf16, f16, f32, f64 (overrides the spec's)")

    f = sub.add_parser("fill", help="write a model file")
    common(f)
    f.add_argument("-o", "--output", required=True, help="output directory")
    f.add_argument("--format", choices=sorted(FORMATS), default="safetensors",
                   help="safetensors (default) or npy (one .npy file per tensor and index.json)")
    f.add_argument("--threads", type=_positive, metavar="N", help="threads to fill with (default: all cores)")
    how = f.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true",
                     help="continue an interrupted fill of the same spec, seed and dtype")
    how.add_argument("--overwrite", action="store_true",
                     help="replace a model or interrupted fill already in the output directory")
    f.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    f.add_argument("--max-shard-size", metavar="SIZE", type=_shard_size,
                   help="safetensors shards of at most SIZE (bytes, 500MB, 5GB, 2GiB) plus model.safetensors.index.json")
    many = f.add_argument_group("many processes (a sharded model; see docs/distributed.md)")
    shard_flags(many)
    many.add_argument("--finalize", action="store_true",
                      help="write model.safetensors.index.json from the shards other processes filled, then stop")
    many.add_argument("--list-shards", action="store_true", help="print the shard file names, one a line, then stop")
    many.add_argument("--dask", metavar="ADDRESS",
                      help="fill the shards as one task per file on the Dask scheduler at ADDRESS, then the index")
    f.set_defaults(run=cmd_fill)

    pl = sub.add_parser("plan", help="list tensors, bytes and schemes")
    common(pl)
    pl.set_defaults(run=cmd_plan)

    v = sub.add_parser("verify", help="check a filled directory against the spec")
    common(v)
    v.add_argument("dir", help="the output directory of a fill")
    v.add_argument("--full", action="store_true", help="recompute every element, not a random sample")
    v.add_argument("--samples", type=_positive, default=8, metavar="K",
                   help="random row blocks recomputed per tensor, drawn afresh on each run (default 8)")
    v.add_argument("--threads", type=_positive, metavar="N", help="threads to recompute with (default: all cores)")
    v.add_argument("--max-shard-size", metavar="SIZE", type=_shard_size,
                   help="the fill's shard size: with the flags below, check only some shard files")
    shard_flags(v)
    v.set_defaults(run=cmd_verify)

    pr = sub.add_parser("presets", help="list presets")
    pr.set_defaults(run=cmd_presets)

    from .cli_signal import add_parsers  # probe, advise, gains, coord-check (docs/probe.md)
    add_parsers(sub)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        resumable = " (rerun the same command with --resume to continue)" if args.command == "fill" else ""
        print(f"fastinit: interrupted{resumable}", file=sys.stderr)
        return 130
    except FileError as exc:
        advice = next((a for cls, a in ADVICE.items() if isinstance(exc, cls)), "")
        print(f"fastinit: error: {exc}" + (f"; {advice}" if advice else ""), file=sys.stderr)
        return 4
    except ModuleNotFoundError as exc:  # an extra not installed: the message names it
        print(f"fastinit: error: {exc}", file=sys.stderr)
        return 2
    except SpecError as exc:
        message = str(exc).replace("write it in the safetensors format", "use --format safetensors")
        print(f"fastinit: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:                  # disk full, size limit, permissions: say which file
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) not in str(exc.strerror) else ""
        message = str(exc.strerror or exc).replace("resume the fill", "rerun the same command with --resume")
        print(f"fastinit: error: {where}{message}{OS_ADVICE.get(type(exc), '')}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
