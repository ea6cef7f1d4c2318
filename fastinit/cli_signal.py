"""``fastinit probe``, ``advise``, ``gains`` and ``coord-check``: signal propagation on the command line.

    fastinit probe --activation relu --scheme "kaiming_normal(nonlinearity='relu')" [--scheme ...]
                   [--depth 50] [--width 1024] [--d-in N] [--batch 64] [--seed 0] [--plot FILE]
    fastinit advise --activation relu --depth 50 [--width 1024] [--factor 2]
    fastinit gains
    fastinit coord-check [--base-width 256] [--widths 256,512,1024,2048,4096] [--plot FILE]

``probe`` builds the MLP (torch), measures one forward and backward pass and prints it beside
the prediction; ``advise`` and ``gains`` are predictions only (no torch).  Registered by
``fastinit.cli``; docs/probe.md.
"""

import math
import sys

from . import _validate, signal
from ._extras import install_hint
from .schemes.activations import ACTIVATIONS


_positive, _widths = _validate.int_arg(1), _validate.ints_arg(1)


def _import_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit(f"fastinit: error: this command needs torch: {install_hint('torch')}") from None


def cmd_probe(args):
    _import_torch()
    import torch

    from . import fills
    from .torch.nets import mlp
    from .torch.probe import probe

    d_in = args.d_in or args.width
    x = torch.empty(args.batch, d_in)
    fills.normal_(x.numpy(), 0.0, 1.0, seed=args.seed, stream="fastinit.probe.inputs")
    curves = []
    for spec in args.scheme or [f"kaiming_normal(nonlinearity='{args.activation}')"]:
        try:
            pred = signal.propagate(signal.mlp(args.activation, spec, args.depth, args.width, d_in))
            model = mlp(args.activation, spec, args.depth, args.width, d_in, seed=args.seed)
        except (TypeError, ValueError) as exc:
            print(f"fastinit: error: --scheme {spec!r}: {exc}", file=sys.stderr)
            return 2
        result = probe(model, x, seed=args.seed).select(torch.nn.Linear)
        print(f"{spec}  ({args.activation}, depth {args.depth}, width {args.width}, batch {args.batch})")
        print(f"{'layer':>5} {'E[h^2] measured':>16} {'predicted':>11} {'E[g^2] measured':>16} {'predicted':>11}")
        step = max(1, args.depth // 10)
        for i in range(0, args.depth, step):
            print(f"{i + 1:>5} {result.forward[i]:>16.4g} {pred.forward[i]:>11.4g} "
                  f"{result.backward[i]:>16.4g} {pred.backward[i]:>11.4g}")
        measured = signal.Propagation(tuple(result.names), result.forward, result.backward)
        print(f"growth per layer: forward {measured.forward_growth:.4f} (predicted {pred.forward_growth:.4f}), "
              f"backward {measured.backward_growth:.4f} (predicted {pred.backward_growth:.4f})\n")
        curves.append(dict(label=spec, predicted=(pred.forward, pred.backward),
                           measured=(result.forward, result.backward)))
    if args.plot:
        from .plot import variance_vs_depth

        variance_vs_depth(curves, args.plot, f"{args.activation}, width {args.width}: measured (dots), predicted (lines)")
        print(f"wrote {args.plot}")
    return 0


def cmd_advise(args):
    advice = signal.advise(args.activation, args.depth, args.width, factor=args.factor)
    print(f"{args.activation}, depth {args.depth}, width {args.width}: predicted spread (max/min of the variance "
          f"over the depth), ok if both <= {args.factor:g}")
    print(f"  {'scheme':<34} {'forward':>10} {'backward':>10} {'growth f/b per layer':>22}")
    for a in advice:
        fmt = lambda v: f"{v:>10.3g}" if math.isfinite(v) else f"{'inf':>10}"  # noqa: E731
        print(f"{'ok' if a.ok else '--'} {a.label:<34} {fmt(a.forward_spread)} {fmt(a.backward_spread)} "
              f"{a.forward_growth:>10.4f} {a.backward_growth:>10.4f}")
    good = [a.label for a in advice if a.ok]
    print(f"keep both within a factor {args.factor:g}: {', '.join(good) if good else 'none of these schemes'}")
    return 0


def cmd_gains(args):
    print(f"{'activation':<11} {'calculate_gain':>15}  {'from':<13} {'1/sqrt(E[phi^2])':>17}  ratio")
    for name, (gain, rule, in_torch) in signal.gain_table().items():
        print(f"{name:<11} {gain:>15.6f}  {'torch table' if in_torch else 'quadrature':<13} {rule:>17.6f}  "
              f"{gain / rule:.4f}")
    print("1/sqrt(E[phi(z)^2]), z ~ N(0, 1): the gain that keeps a unit pre-activation variance through phi and a "
          "fan-in layer (He et al. 2015's rule)")
    return 0


def cmd_coord_check(args):
    _import_torch()
    import torch

    from . import fills
    from .torch.nets import mup_mlp
    from .torch.probe import coord_check

    x = torch.empty(args.batch, 64)
    fills.normal_(x.numpy(), 0.0, 1.0, seed=args.seed, stream="fastinit.coord_check.inputs")
    panels = {}
    for par, title in (("sp", "standard parametrization (fixed std)"), ("mup", f"muP, base width {args.base_width}")):
        results = coord_check(lambda w: mup_mlp(w, args.base_width, depth=args.depth, parametrization=par,
                                                seed=args.seed), args.widths, x, seed=args.seed)
        panels[title] = {w: [math.sqrt(v) for v in r.forward] for w, r in results.items()}
        print(title)
        for w, rms in panels[title].items():
            print(f"  width {w:>6}: " + "  ".join(f"{v:8.4f}" for v in rms))
    if args.plot:
        from .plot import coord_check as draw

        draw(panels, args.plot, "coordinate check at initialization: RMS of each layer's output")
        print(f"wrote {args.plot}")
    return 0


def add_parsers(sub):
    """Register the subcommands on ``fastinit``'s subparsers."""
    p = sub.add_parser("probe", help="measure and predict each layer's variance in an MLP at init")
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="the elementwise activation (default relu)")
    p.add_argument("--scheme", action="append", help="a scheme spec (repeatable; default kaiming_normal)")
    p.add_argument("--depth", type=_positive, default=50, help="number of layers (default 50)")
    p.add_argument("--width", type=_positive, default=1024, help="hidden width (default 1024)")
    p.add_argument("--d-in", type=_positive, help="input size (default: the width)")
    p.add_argument("--batch", type=_positive, default=64, help="inputs in the batch (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    p.add_argument("--plot", help="write a PNG or SVG of variance against depth")
    p.set_defaults(run=cmd_probe)

    a = sub.add_parser("advise", help="which schemes keep forward and backward variance within a factor")
    a.add_argument("--activation", choices=ACTIVATIONS, required=True, help="the elementwise activation")
    a.add_argument("--depth", type=_positive, required=True, help="number of layers")
    a.add_argument("--width", type=_positive, default=1024, help="hidden width (default 1024)")
    a.add_argument("--factor", type=float, default=2.0, help="allowed drift of the variance over the depth (default 2)")
    a.set_defaults(run=cmd_advise)

    g = sub.add_parser("gains", help="calculate_gain for every activation, beside the quadrature rule")
    g.set_defaults(run=cmd_gains)

    c = sub.add_parser("coord-check", help="muP coordinate check at init: activation scale across widths")
    c.add_argument("--base-width", type=_positive, default=256, help="muP base width (default 256)")
    c.add_argument("--widths", type=_widths, default=[256, 512, 1024, 2048, 4096], help="comma-separated widths (default 256,...,4096)")
    c.add_argument("--depth", type=_positive, default=4, help="number of layers (default 4)")
    c.add_argument("--batch", type=_positive, default=32, help="inputs in the batch (default 32)")
    c.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    c.add_argument("--plot", help="write a PNG or SVG")
    c.set_defaults(run=cmd_coord_check)
