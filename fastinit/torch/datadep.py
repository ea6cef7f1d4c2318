"""Data- and architecture-dependent schemes on torch modules: LSUV, Fixup, T-Fixup.

All randomness comes from fastinit with each parameter's name (as ``model.named_parameters()``
gives it) as the stream, so the result depends on (seed, names, shapes, dtypes) and -- for
LSUV -- the batch, never on construction order or torch's global RNG.  Each function
validates its arguments and every tensor it will write before the first write, writes
under ``torch.no_grad()``, and returns a report.  docs/torch_datadep.md has the formulas.
"""

import math
import re
from typing import NamedTuple

import torch

from .. import schemes as _schemes
from .._validate import check_common, check_threads, integer, real
from ..kernels import get as _get_backend
from ..rng import key_words
from .tensors import as_numpy

_CONVS = torch.nn.modules.conv._ConvNd
_WEIGHTED = (torch.nn.Linear, _CONVS)
_XAVIER = {"uniform": _schemes.xavier_uniform_, "normal": _schemes.xavier_normal_}


# ----------------------------------------------------------------------------------------
# shared: validation and a plan of writes checked before the first one


def _check_model(model):
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")


def _check_keywords(seed, backend, threads):
    key_words(seed, 0)  # TypeError/ValueError naming seed (the streams are the parameter names)
    _get_backend(backend)
    check_threads(threads)


def _weighted(module):
    """True for a Linear/Conv*d/ConvTranspose*d whose weight is a Parameter."""
    return isinstance(module, _WEIGHTED) and isinstance(module._parameters.get("weight"), torch.nn.Parameter)


def _fmt(x):
    return f"{x:.6g}"


class _Plan:
    """Writes to parameters of ``model``, by name; all validated by ``check()``, run by ``run()``.

    A job is a fill (a fastinit scheme with the parameter's name as stream, or a constant),
    then optional in-place multiplications of row ranges (``param[rows] *= factor``, in the
    parameter's dtype, by torch), then an optional zeroed ``padding_idx`` row.  A later
    ``put`` for the same parameter replaces the earlier one.
    """

    def __init__(self, model):
        self.names = {}
        for name, p in model.named_parameters():  # a shared parameter: its first name
            self.names.setdefault(id(p), name)
        self.jobs = {}

    def name(self, param, what):
        try:
            return self.names[id(param)]
        except KeyError:
            raise ValueError(f"{what} is not a parameter of model (pass modules that belong to model)") from None

    def put(self, param, what, fn, kwargs, desc, random, scales=(), padding_idx=None):
        name = self.name(param, what)
        self.jobs[name] = (param, fn, kwargs, desc, random, tuple(scales), padding_idx)
        return name

    def check(self, seed, backend, threads):
        with torch.no_grad():
            for name, (param, *_rest, random, _scales, _pad) in self.jobs.items():
                check_common(as_numpy(param, name), seed if random else None, name, None, None, backend, threads)

    def run(self, seed, backend, threads):
        with torch.no_grad():
            for name, (param, fn, kwargs, _desc, random, scales, padding_idx) in self.jobs.items():
                view = as_numpy(param, name)
                if random:
                    fn(view, **kwargs, seed=seed, stream=name, backend=backend, threads=threads)
                else:
                    fn(view, **kwargs)
                torch.autograd.graph.increment_version(param)
                for rows, factor in scales:  # torch ops: they bump the version themselves
                    (param if rows is None else param[rows]).mul_(factor)
                if padding_idx is not None:
                    param[padding_idx].zero_()

    def report(self, model, unchanged):
        """{name: description} for every parameter of ``model``, in named_parameters order."""
        out = {}
        for name, _p in model.named_parameters():
            out[name] = self.jobs[name][3] if name in self.jobs else unchanged(name)
        return out


def _owner_types(model):
    return {(f"{m}.{a}" if m else a): type(mod).__name__ for m, mod in model.named_modules() for a in mod._parameters}


# ----------------------------------------------------------------------------------------
# LSUV


class LSUVLayer(NamedTuple):
    """One layer's LSUV outcome: the output variance after the last rescale, the number of
    rescales, and whether ``|variance - 1| < tol``.  ``variance`` is None (and
    ``iterations`` 0) for a layer the forward pass never called."""

    variance: float | None
    iterations: int
    converged: bool


def _forward(model, batch):
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def _collect(outputs):
    """A forward hook appending the module's output (float64 copy) to ``outputs``."""
    def hook(module, args, output):
        outputs.append(output.detach().to(torch.float64))
    return hook


def _variance(outputs):
    """Population variance (ddof 0, as the reference's ``np.var``) of all the outputs, in float64."""
    x = torch.cat([o.reshape(-1) for o in outputs])
    return float(torch.var(x, correction=0)) if x.numel() else math.nan


def lsuv_(model, batch, tol=0.1, max_iter=10, *, seed, train=False, backend=None, threads=None):
    """Layer-sequential unit-variance init (Mishkin & Matas 2015), in place; returns a report.

    1. Every Linear/Conv*d/ConvTranspose*d weight of ``model`` gets ``fastinit.orthogonal_``
       (gain 1, stream = the weight's parameter name).  Biases are left as they are.
    2. In the order the forward pass first calls them, for each such layer: forward
       ``batch``, take the variance ``v`` of the layer's output (all elements, ddof 0, every
       call of the layer in the pass); while ``|v - 1| >= tol`` and fewer than ``max_iter``
       rescales were done, ``W /= sqrt(v)`` and forward again.

    ``tol`` is on the **variance**, as in the reference code (LSUVinit's ``var_tol``,
    ``abs(var - 1.0) < tol``; paper's Algorithm 1 ``|Var(B_L) - 1.0| >= Tol_var``);
    defaults 0.1 and 10 as there.  ``batch``: a tensor (``model(batch)``), a tuple/list
    (``model(*batch)``) or a dict (``model(**batch)``).  The forward passes run under
    ``torch.no_grad()`` in eval mode (``train=False``: BatchNorm uses its running stats,
    dropout is off, so the result is deterministic) or train mode (``train=True``: batch
    statistics; dropout then draws from torch's RNG).  Afterwards every module's
    train/eval flag and every buffer (BatchNorm running statistics, ...) are restored, and
    the hooks removed, also on error.

    A first forward pass finds the layers before anything is written, so a batch the model
    rejects raises before any write.  Layers the forward pass never calls (e.g.
    ``MultiheadAttention.out_proj``, used through ``F.multi_head_attention_forward``) get
    step 1 only.  A layer whose output variance is 0 or not finite is left after step 1
    (nothing to divide by) and reported not converged.

    Returns ``{module name: LSUVLayer(variance, iterations, converged)}``: the called layers
    in forward order, then the others.

    >>> report = lsuv_(net, torch.randn(64, 3, 32, 32), seed=0)
    """
    _check_model(model)
    if not real(tol, "tol") > 0:
        raise ValueError(f"tol must be > 0 (a bound on |variance - 1|); got {tol!r}")
    max_iter = integer(max_iter, "max_iter", lo=1)
    _check_keywords(seed, backend, threads)
    from ..orthogonal import orthogonal_  # SciPy's LAPACK: loaded on first use

    modes = [(m, m.training) for m in model.modules()]
    saved = [(mod, key, buf, buf.clone()) for mod in model.modules() for key, buf in mod._buffers.items()
             if buf is not None]
    hooks = []
    try:
        model.train(train)
        with torch.no_grad():
            # 1. which layers run, in which order (LazyLinear & co. materialize here)
            order = []

            def seen(module, args, output):
                if module not in order:
                    order.append(module)

            hooks = [m.register_forward_hook(seen) for m in model.modules() if isinstance(m, _WEIGHTED)]
            _forward(model, batch)
            for h in hooks:
                h.remove()
            hooks = []
            plan = _Plan(model)
            layers = {}  # weight name -> module name; a shared weight once
            for mod_name, mod in model.named_modules():
                if _weighted(mod):
                    name = plan.put(mod.weight, f"{mod_name}.weight", orthogonal_, {}, "orthogonal", True)
                    layers.setdefault(name, (mod_name, mod))
            if not any(mod in order for _n, mod in layers.values()):
                raise ValueError("lsuv_: the forward pass called no Linear/Conv layer of model "
                                 f"(found {len(layers)} such layer(s)); nothing to fit")
            plan.check(seed, backend, threads)
            plan.run(seed, backend, threads)

            # 2. layer by layer, in forward order
            report = {}
            by_module = {id(mod): (wname, mod_name) for wname, (mod_name, mod) in layers.items()}
            for mod in order:
                if id(mod) not in by_module or by_module[id(mod)][1] in report:
                    continue
                _wname, mod_name = by_module[id(mod)]
                outputs = []
                hooks = [mod.register_forward_hook(_collect(outputs))]
                _forward(model, batch)
                var, it = _variance(outputs), 0
                while abs(var - 1.0) >= tol and it < max_iter and math.isfinite(var) and var > 0:
                    mod.weight.div_(math.sqrt(var))
                    it += 1
                    outputs.clear()
                    _forward(model, batch)
                    var = _variance(outputs)
                hooks[0].remove()
                hooks = []
                report[mod_name] = LSUVLayer(var, it, bool(abs(var - 1.0) < tol))
            for mod_name, _mod in layers.values():
                report.setdefault(mod_name, LSUVLayer(None, 0, False))
            return report
    finally:
        for h in hooks:
            h.remove()
        for m, flag in modes:
            m.training = flag
        with torch.no_grad():
            for mod, key, buf, copy in saved:
                mod._buffers[key] = buf
                buf.copy_(copy)


# ----------------------------------------------------------------------------------------
# Fixup

_FIXUP_SCALE = re.compile(r"scale\d*")
_FIXUP_BIAS = re.compile(r"bias\d+[ab]?")


def fixup_branches(model):
    """The residual branches of torchvision-style blocks: ``[block.conv1, block.conv2(, block.conv3)]``
    for every submodule with Conv attributes ``conv1`` and ``conv2`` (BasicBlock, Bottleneck and
    the Fixup paper's FixupBasicBlock/FixupBottleneck), in ``model.modules()`` order.  The
    shortcut (``downsample``) is not part of a branch.

    >>> fixup_(net, fixup_branches(net), seed=0)
    """
    _check_model(model)
    branches = []
    for mod in model.modules():
        convs = [getattr(mod, a, None) for a in ("conv1", "conv2", "conv3")]
        if isinstance(convs[0], _CONVS) and isinstance(convs[1], _CONVS):
            branches.append([c for c in convs if isinstance(c, _CONVS)])
    return branches


def _branch_layers(branch, i):
    mods = [branch] if isinstance(branch, torch.nn.Module) else branch
    if isinstance(mods, (str, bytes)) or not hasattr(mods, "__iter__"):
        raise TypeError(f"branches[{i}] must be an nn.Module or a list of nn.Modules; got {type(branch).__name__}")
    layers = []
    for m in mods:
        if not isinstance(m, torch.nn.Module):
            raise TypeError(f"branches[{i}] must hold nn.Modules; got {type(m).__name__}")
        layers += [x for x in m.modules() if _weighted(x) and x not in layers]
    if not layers:
        raise ValueError(f"branches[{i}] has no Linear/Conv layer (a residual branch needs m >= 1 weighted layers)")
    return layers


def _params_list(params, what):
    params = list(params)
    for p in params:
        if not isinstance(p, torch.nn.Parameter):
            raise TypeError(f"{what} must hold nn.Parameters; got {type(p).__name__}")
    return params


def fixup_(model, branches=None, classifier="auto", *, seed, mode="fan_in", scales=None, biases=None,
           backend=None, threads=None):
    """Fixup initialization (Zhang, Dauphin & Ma 2019) of a residual network, in place; returns a report.

    With ``L = len(branches)`` residual branches, branch ``b`` having ``m_b`` weighted layers:

    - the last layer of each branch: weight 0;
    - the other branch layers: He normal ``N(0, 2 / fan)`` (``kaiming_normal_(mode,
      nonlinearity="relu")``, stream = the weight's name) times ``L ** (-1 / (2 m_b - 2))``;
    - the classifier: weight 0 and bias 0;
    - every other Linear/Conv weight of ``model`` (stem, shortcuts): He normal, unscaled;
    - the biases of all these layers: 0;
    - Fixup's scalar multipliers 1 and scalar biases 0: the parameters in ``scales`` and
      ``biases``, or (``None``) those named as in the paper's code: a last name component
      ``scale``, ``scale<k>`` -> 1; ``bias<k>``, ``bias<k>a``, ``bias<k>b`` -> 0
      (``bias1a``, ``bias2b``, ...; a plain ``bias`` never matches).

    ``branches``: a list of residual branches, each an ``nn.Module`` or a list of them; a
    branch's layers are the Linear/Conv modules in it in registration (``.modules()``)
    order, the last being the one zeroed.  ``None``: :func:`fixup_branches` (torchvision's
    ``conv1``, ``conv2``, ``conv3`` naming).  ``classifier``: ``"auto"`` = the last
    ``nn.Linear`` of ``model`` outside the branches (none: no classifier), a module, or None.
    ``mode``: ``"fan_in"`` (the paper's He init) or ``"fan_out"`` (the authors' ImageNet
    code uses ``sqrt(2 / (out_channels * kernel size))``).  Other parameters (norm layers,
    ...) are left unchanged.  Returns ``{parameter name: what was written}`` for every
    parameter of ``model``.

    >>> report = fixup_(resnet, seed=0)                                  # torchvision-style blocks
    >>> report = fixup_(net, [b.branch for b in net.blocks], net.head, seed=0)
    """
    _check_model(model)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    _check_keywords(seed, backend, threads)
    if branches is None:
        branches = fixup_branches(model)
        if not branches:
            raise ValueError("fixup_: no branches given and none found by fixup_branches (modules with "
                             "conv1 and conv2); pass branches=[...]")
    elif isinstance(branches, torch.nn.Module) or not hasattr(branches, "__iter__"):
        raise TypeError(f"branches must be a list of residual branches; got {type(branches).__name__}")
    branches = [_branch_layers(b, i) for i, b in enumerate(branches)]
    if not branches:
        raise ValueError("branches is empty: Fixup needs L >= 1 residual branches")
    in_branch = {}
    for i, layers in enumerate(branches):
        for layer in layers:
            if id(layer) in in_branch:
                raise ValueError(f"a {type(layer).__name__} is in branches[{in_branch[id(layer)]}] and "
                                 f"branches[{i}]: branches must not overlap")
            in_branch[id(layer)] = i
    if isinstance(classifier, str) and classifier == "auto":
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and _weighted(m)
                   and id(m) not in in_branch]
        classifier = linears[-1] if linears else None
    elif classifier is not None:
        if not isinstance(classifier, torch.nn.Module) or not _weighted(classifier):
            raise TypeError(f"classifier must be 'auto', None or a Linear/Conv module; got {type(classifier).__name__}")
        if id(classifier) in in_branch:
            raise ValueError(f"the classifier is in branches[{in_branch[id(classifier)]}]")
    plan = _Plan(model)
    scale_params = None if scales is None else _params_list(scales, "scales")
    bias_params = None if biases is None else _params_list(biases, "biases")

    he = {"a": 0, "mode": mode, "nonlinearity": "relu"}
    he_desc = f"kaiming_normal(mode={mode!r}, nonlinearity='relu')"
    zeros = (_schemes.zeros_, {}, "zeros", False)

    def layer(mod, what, weight_job):
        plan.put(mod.weight, what, *weight_job)
        if isinstance(mod._parameters.get("bias"), torch.nn.Parameter):
            plan.put(mod.bias, what, *zeros)

    for mod in model.modules():  # stem, shortcuts, ...: plain He
        if _weighted(mod) and id(mod) not in in_branch and mod is not classifier:
            layer(mod, "a layer", (_schemes.kaiming_normal_, he, he_desc, True))
    n_branches = len(branches)
    for i, layers in enumerate(branches):
        m = len(layers)
        for mod in layers[:-1]:
            factor = n_branches ** (-1.0 / (2 * m - 2))
            layer(mod, f"a layer of branches[{i}]",
                  (_schemes.kaiming_normal_, he, f"{he_desc} * L^(-1/(2m-2)) = {_fmt(factor)} (L={n_branches}, m={m})",
                   True, [(None, factor)]))
        layer(layers[-1], f"the last layer of branches[{i}]", zeros)
    if classifier is not None:
        layer(classifier, "classifier", zeros)
    if scale_params is None or bias_params is None:
        for name, p in model.named_parameters():
            last = name.rsplit(".", 1)[-1]
            if scale_params is None and _FIXUP_SCALE.fullmatch(last) and name not in plan.jobs:
                plan.put(p, name, _schemes.ones_, {}, "ones (Fixup multiplier)", False)
            elif bias_params is None and _FIXUP_BIAS.fullmatch(last) and name not in plan.jobs:
                plan.put(p, name, _schemes.zeros_, {}, "zeros (Fixup bias)", False)
    for p in scale_params or ():
        plan.put(p, "a parameter in scales", _schemes.ones_, {}, "ones (Fixup multiplier)", False)
    for p in bias_params or ():
        plan.put(p, "a parameter in biases", _schemes.zeros_, {}, "zeros (Fixup bias)", False)
    plan.check(seed, backend, threads)
    plan.run(seed, backend, threads)
    owners = _owner_types(model)
    return plan.report(model, lambda n: f"unchanged ({owners.get(n, 'the module')}: not a Fixup parameter)")


# ----------------------------------------------------------------------------------------
# T-Fixup


def _layer_list(layers, kind, what, model):
    if isinstance(layers, torch.nn.Module) or not hasattr(layers, "__iter__"):
        raise TypeError(f"{what} must be a list of nn.Modules; got {type(layers).__name__}")
    layers = list(layers)
    inside = {id(m) for m in model.modules()}
    for i, m in enumerate(layers):
        if not isinstance(m, kind):
            raise TypeError(f"{what} must hold {kind.__name__}s; got {type(m).__name__}")
        if id(m) not in inside:
            raise ValueError(f"{what}[{i}] ({type(m).__name__}) is not a submodule of model")
    return layers


def t_fixup_(model, *, seed, encoder_layers=None, decoder_layers=None, embeddings=None, encoder_embeddings=None,
             decoder_embeddings=None, distribution="uniform", backend=None, threads=None):
    """T-Fixup (Huang, Perez, Ba & Volkovs 2020) for transformers without layer norm, in place; returns a report.

    With ``N`` encoder and ``M`` decoder layers (Algorithm 1, and the authors' fairseq code):

    - every Linear/Conv weight: Xavier (``distribution`` ``"uniform"``, as fairseq and
      torch, or ``"normal"``); their biases 0;
    - ``nn.MultiheadAttention``: Q and K as torch initializes them (Xavier on the packed
      ``(3d, d)`` ``in_proj_weight``: ``U(+-sqrt(6 / 4d))``, which is fairseq's Xavier with
      gain ``1/sqrt(2)`` on each ``(d, d)`` projection); the **value** projection V (rows
      ``2d:3d`` of ``in_proj_weight``, or ``v_proj_weight``) is Xavier with the fans of
      its own ``(d, d)`` matrix, i.e. the packed value times ``sqrt(2)`` (the reference
      code's ``v_proj * 2**0.5``); ``in_proj_bias`` 0, ``bias_k``/``bias_v`` Xavier normal;
    - embeddings (every ``nn.Embedding``): ``N(0, d^-1/2)`` read as **std** ``d ** -0.5``,
      ``d`` = embedding dim (fairseq's ``Embedding``), ``padding_idx`` row 0;
    - scaled, in each encoder layer by ``0.67 * N ** (-1/4)``: V of every attention and
      every Linear/Conv weight of the layer (``out_proj`` = the paper's ``w``, and the MLP);
      in each decoder layer the same (self- and cross-attention) by ``(9 M) ** (-1/4)``;
    - embeddings scaled by ``(9 M) ** (-1/4)`` if there are decoder layers, else by
      ``(9 N) ** (-1/4)`` (the authors' code scales encoder embeddings by ``(9 N) ** (-1/4)``
      and decoder ones by ``(9 M) ** (-1/4)``: pass ``encoder_embeddings``/
      ``decoder_embeddings`` to get that split; ``embeddings`` then defaults to none).

    Every scaled value is the fastinit Xavier/normal value (stream = parameter name)
    multiplied by the factor in the parameter's dtype.  ``encoder_layers``/``decoder_layers``:
    lists of layer modules; ``None`` finds every ``nn.TransformerEncoderLayer`` /
    ``nn.TransformerDecoderLayer``.  Inside a layer, every Linear/Conv except an attention's
    Q/K counts as output or MLP weight: write custom attention with ``nn.MultiheadAttention``.
    LayerNorm and other parameters are left unchanged (T-Fixup is meant for models without
    layer norm: replace ``norm1``... by ``nn.Identity()``).  Returns ``{parameter name: what
    was written}`` for every parameter of ``model``.

    >>> report = t_fixup_(torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False), seed=0)
    """
    _check_model(model)
    if distribution not in _XAVIER:
        raise ValueError(f"distribution must be 'uniform' or 'normal'; got {distribution!r}")
    _check_keywords(seed, backend, threads)
    auto = (lambda kind: [m for m in model.modules() if isinstance(m, kind)])
    enc = auto(torch.nn.TransformerEncoderLayer) if encoder_layers is None else \
        _layer_list(encoder_layers, torch.nn.Module, "encoder_layers", model)
    dec = auto(torch.nn.TransformerDecoderLayer) if decoder_layers is None else \
        _layer_list(decoder_layers, torch.nn.Module, "decoder_layers", model)
    n_enc, n_dec = len(enc), len(dec)
    if n_enc + n_dec == 0:
        raise ValueError("t_fixup_: no encoder or decoder layers (none given, and model has no "
                         "nn.TransformerEncoderLayer/TransformerDecoderLayer)")
    if {id(m) for m in enc} & {id(m) for m in dec}:
        raise ValueError("a layer is both in encoder_layers and decoder_layers")
    explicit = encoder_embeddings is not None or decoder_embeddings is not None
    emb_enc = _layer_list(encoder_embeddings or [], torch.nn.Embedding, "encoder_embeddings", model)
    emb_dec = _layer_list(decoder_embeddings or [], torch.nn.Embedding, "decoder_embeddings", model)
    if embeddings is None:
        embeddings = [] if explicit else auto(torch.nn.Embedding)
    emb_all = _layer_list(embeddings, torch.nn.Embedding, "embeddings", model)
    if emb_enc and not n_enc:
        raise ValueError("encoder_embeddings given but there are no encoder layers (N = 0)")
    if emb_dec and not n_dec:
        raise ValueError("decoder_embeddings given but there are no decoder layers (M = 0)")

    f_enc = 0.67 * n_enc ** -0.25 if n_enc else None
    f_dec = (9 * n_dec) ** -0.25 if n_dec else None
    f_emb_enc = (9 * n_enc) ** -0.25 if n_enc else None
    f_emb = f_dec if n_dec else f_emb_enc
    xavier = _XAVIER[distribution]
    xname = f"xavier_{distribution}"
    plan = _Plan(model)
    zeros = (_schemes.zeros_, {}, "zeros", False)
    factors = {}  # id(module) -> (factor, label) of the layer it is in
    for layers, factor, label in ((enc, f_enc, f"0.67*N^(-1/4) (N={n_enc})"),
                                  (dec, f_dec, f"(9M)^(-1/4) (M={n_dec})")):
        for layer in layers:
            for m in layer.modules():
                factors[id(m)] = (factor, label)

    def bias_zero(mod, attr, what):
        if isinstance(mod._parameters.get(attr), torch.nn.Parameter):
            plan.put(mod._parameters[attr], what, *zeros)

    for mod in model.modules():
        factor, label = factors.get(id(mod), (None, None))
        scaled = [] if factor is None else [(None, factor)]
        times = "" if factor is None else f" * {label} = {_fmt(factor)}"
        if _weighted(mod):
            plan.put(mod.weight, "a layer", xavier, {}, xname + times, True, scaled)
            bias_zero(mod, "bias", "a layer")
        elif isinstance(mod, torch.nn.MultiheadAttention):
            p = mod._parameters
            if isinstance(p.get("in_proj_weight"), torch.nn.Parameter):
                d = mod.embed_dim
                v = [] if factor is None else [(slice(2 * d, 3 * d), math.sqrt(2.0) * factor)]
                vdesc = "" if factor is None else f"; V rows [{2 * d}:{3 * d}] * sqrt(2) * {label}"
                plan.put(p["in_proj_weight"], "in_proj_weight", xavier, {}, xname + vdesc, True, v)
            for attr in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                if isinstance(p.get(attr), torch.nn.Parameter):
                    s = scaled if attr == "v_proj_weight" else []
                    plan.put(p[attr], attr, xavier, {}, xname + (times if s else ""), True, s)
            bias_zero(mod, "in_proj_bias", "in_proj_bias")
            for attr in ("bias_k", "bias_v"):
                if isinstance(p.get(attr), torch.nn.Parameter):
                    plan.put(p[attr], attr, _schemes.xavier_normal_, {}, "xavier_normal", True)
    for embs, factor, label in ((emb_all, f_emb, f"(9{'M' if n_dec else 'N'})^(-1/4)"),
                                (emb_enc, f_emb_enc, "(9N)^(-1/4)"), (emb_dec, f_dec, "(9M)^(-1/4)")):
        for e in embs:
            if not isinstance(e._parameters.get("weight"), torch.nn.Parameter):
                continue
            std = e.embedding_dim ** -0.5
            plan.put(e.weight, "an embedding", _schemes.normal_, {"std": std},
                     f"normal(std=d^-1/2={_fmt(std)}) * {label} = {_fmt(factor)}", True, [(None, factor)],
                     e.padding_idx)
    plan.check(seed, backend, threads)
    plan.run(seed, backend, threads)
    owners = _owner_types(model)
    return plan.report(model, lambda n: f"unchanged ({owners.get(n, 'the module')}: no T-Fixup rule)")

