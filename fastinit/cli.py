"""``fastinit`` command line: fill, plan, verify model files; list presets.

    fastinit fill SPEC -o DIR [--format safetensors|npy] [--seed N] [--dtype bf16|f16|f32|f64]
                             [--threads N] [--resume] [--quiet] [--max-shard-size 5GB]
    fastinit plan SPEC [--dtype ...]
    fastinit verify SPEC DIR [--seed N] [--dtype ...] [--full] [--samples K]
    fastinit presets
    fastinit probe | advise | gains | coord-check    (signal propagation: fastinit.cli_signal)

SPEC is a spec file (TOML or JSON), an HF config.json, or a preset name (``fastinit presets``).
Exit status: 0 success, 1 verification failed, 2 bad spec or arguments, 3 the files could
not be written (disk full, file size limit, unwritable directory: nothing looks complete).
"""

import argparse
import sys
import time

from .model import presets
from .model.spec import SpecError, load
from .model.writer import FORMATS, fill, verify


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024


def _spec(args):
    spec = load(args.spec)
    return spec.with_options(seed=getattr(args, "seed", None), dtype=args.dtype)


def _threads(value):
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {n}")
    return n


def _seed(value):
    n = int(value, 0)
    if not 0 <= n < 2 ** 64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64); got {n}")
    return n


def cmd_fill(args):
    spec = _spec(args)
    if spec.seed is None:
        raise SpecError("seed: not set; give 'seed' in the spec or --seed N")
    start = time.perf_counter()
    filled = fill(spec, args.output, fmt=args.format, threads=args.threads, resume=args.resume, quiet=args.quiet,
                  max_shard_size=args.max_shard_size)
    elapsed = time.perf_counter() - start
    if not args.quiet:
        nbytes = sum(spec[name].nbytes for name in filled)
        print(f"filled {len(filled)} of {len(spec.tensors)} tensors, {_size(nbytes)} in {elapsed:.2f} s "
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
    problems = verify(spec, args.dir, full=args.full, samples=args.samples, threads=args.threads)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if not problems:
        print(f"OK {len(spec.tensors)} tensors match (seed {spec.seed}, "
              f"{'every element' if args.full else f'{args.samples} sampled blocks per tensor'})")
    return 1 if problems else 0


def cmd_presets(args):
    print("named presets (fastinit fill NAME ...):")
    for name, config in presets.NAMED.items():
        spec = presets.from_config(config)
        print(f"  {name:<12} {config['model_type']:<6} {spec.numel:>15,} parameters")
    print("config.json families (recognised by model_type/architectures): "
          f"{', '.join(sorted(presets.LLAMA_TYPES | presets.GPT2_TYPES))}")
    return 0


def parser():
    p = argparse.ArgumentParser(prog="fastinit", description="Fill model weight files in place, reproducibly.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(q, seed=True):
        q.add_argument("spec", help="spec file (TOML/JSON), HF config.json, or preset name")
        if seed:
            q.add_argument("--seed", type=_seed, help="overrides the spec's seed")
        q.add_argument("--dtype", help="every tensor's dtype: bf16, f16, f32, f64")

    f = sub.add_parser("fill", help="write a model file")
    common(f)
    f.add_argument("-o", "--output", required=True, help="output directory")
    f.add_argument("--format", choices=sorted(FORMATS), default="safetensors")
    f.add_argument("--threads", type=_threads)
    f.add_argument("--resume", action="store_true", help="continue an interrupted fill")
    f.add_argument("--quiet", action="store_true")
    f.add_argument("--max-shard-size", metavar="SIZE",
                   help="safetensors shards of at most SIZE (bytes, 500MB, 5GB, 2GiB) plus model.safetensors.index.json")
    f.set_defaults(run=cmd_fill)

    pl = sub.add_parser("plan", help="list tensors, bytes and schemes")
    common(pl)
    pl.set_defaults(run=cmd_plan)

    v = sub.add_parser("verify", help="check a filled directory against the spec")
    common(v)
    v.add_argument("dir")
    v.add_argument("--full", action="store_true", help="check every element, not a sample")
    v.add_argument("--samples", type=int, default=8, help="random row blocks per tensor (default 8)")
    v.add_argument("--threads", type=_threads)
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
    except SpecError as exc:
        print(f"fastinit: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:                  # disk full, size limit, permissions: say which file
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) not in str(exc.strerror) else ""
        print(f"fastinit: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
