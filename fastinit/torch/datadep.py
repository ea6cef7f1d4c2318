"""Data- and architecture-dependent schemes on torch modules: LSUV, Fixup, T-Fixup.

Each builds a plan (``fastinit.torch.module.explicit_plan``: per parameter, the
``fastinit.model.plan`` ops -- a scheme, scales of row blocks, a zeroed padding row) and
writes it with the engine ``materialize`` and ``init_module_`` use (``write_``): every
argument and every tensor to write checked before the first write, each parameter's name
(as ``module.named_parameters()`` gives it) its stream, under ``torch.no_grad()``.  So the
result depends on (seed, names, shapes, dtypes) and -- for LSUV -- the batch, never on
construction order or torch's global RNG; each returns the ``InitReport`` (its ``plan``
replays the same bits).  docs/torch_datadep.md has the formulas.
"""

import math
import re
from typing import NamedTuple

import torch

from .._validate import integer, real
from ..model import plan as _plan
from .module import check_keywords as _check_keywords, explicit_plan, write_
from .tensors import as_numpy

_CONVS = torch.nn.modules.conv._ConvNd
_WEIGHTED = (torch.nn.Linear, _CONVS)


# ----------------------------------------------------------------------------------------
# shared: validation and the ops of a plan, by parameter


def _check_module(module):
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")


def _weighted(module):
    """True for a Linear/Conv*d/ConvTranspose*d whose weight is a Parameter."""
    return isinstance(module, _WEIGHTED) and isinstance(module._parameters.get("weight"), torch.nn.Parameter)


def _fmt(x):
    return f"{x:.6g}"


def _scale(factor, rows=None):
    return _plan.Op("scale", params=(("factor", float(factor)),), rows=rows)


_ZEROS = (_plan.scheme_op("zeros"),)
_ONES = (_plan.scheme_op("ones"),)


class _Ops:
    """The ops for parameters of ``module``, by first name (a later ``put`` replaces an
    earlier one), and why each is written (the report's ``[...]``)."""

    def __init__(self, module):
        self.module = module
        self.names = {}
        for name, p in module.named_parameters():  # a shared parameter: its first name
            self.names.setdefault(id(p), name)
        self.ops, self.sources = {}, {}

    def name(self, param, what):
        try:
            return self.names[id(param)]
        except KeyError:
            raise ValueError(f"{what} is not a parameter of module (pass modules that belong to module)") from None

    def put(self, param, what, ops, source):
        name = self.name(param, what)
        self.ops[name], self.sources[name] = tuple(ops), source
        return name

    def __contains__(self, name):
        return name in self.ops

    def plan(self, ran, unchanged):
        return explicit_plan(self.module, self.ops, self.sources, ran, unchanged)


def _owner_types(module):
    return {(f"{m}.{a}" if m else a): type(mod).__name__ for m, mod in module.named_modules() for a in mod._parameters}


# ----------------------------------------------------------------------------------------
# LSUV


class LSUVLayer(NamedTuple):
    """One layer's LSUV outcome: the output variance after the last rescale, the number of
    rescales, and whether ``|variance - 1| < tol``.  ``variance`` is None (and
    ``iterations`` 0) for a layer the forward pass never called."""

    variance: float | None
    iterations: int
    converged: bool


def _forward(module, batch):
    if isinstance(batch, dict):
        return module(**batch)
    if isinstance(batch, (tuple, list)):
        return module(*batch)
    return module(batch)


def _collect(outputs):
    """A forward hook appending the module's output (float64 copy) to ``outputs``."""
    def hook(module, args, output):
        outputs.append(output.detach().to(torch.float64))
    return hook


def _variance(outputs):
    """Population variance (ddof 0, as the reference's ``np.var``) of all the outputs, in float64."""
    x = torch.cat([o.reshape(-1) for o in outputs])
    return float(torch.var(x, correction=0)) if x.numel() else math.nan


_ORTHOGONAL = _plan.Op("orthogonal", "orthogonal", (("gain", 1.0),))


def lsuv_(module, batch, tol=0.1, max_iter=10, *, seed, train=False, backend=None, threads=None):
    """Layer-sequential unit-variance init (Mishkin & Matas 2016), in place; returns the ``InitReport``.

    1. Every Linear/Conv*d/ConvTranspose*d weight of ``module`` gets ``fastinit.orthogonal_``
       (gain 1, stream = the weight's parameter name).  Biases are left as they are.
    2. In the order the forward pass first calls them, for each such layer: forward
       ``batch``, take the variance ``v`` of the layer's output (all elements, ddof 0, every
       call of the layer in the pass); while ``|v - 1| >= tol`` and fewer than ``max_iter``
       rescales were done, ``W /= sqrt(v)`` and forward again.

    As a plan: a weight's ops are ``orthogonal(gain=1)`` then ``scale(g)``, ``g`` the
    product of the layer's ``1 / sqrt(v)`` -- the weight is the orthogonal matrix times
    ``g``, rounded once (``fastinit.model.plan``), so ``report.plan`` replays the same bits.

    ``tol`` is on the **variance**, as in the reference code (LSUVinit's ``var_tol``,
    ``abs(var - 1.0) < tol``; paper's Algorithm 1 ``|Var(B_L) - 1.0| >= Tol_var``);
    defaults 0.1 and 10 as there.  ``batch``: a tensor (``module(batch)``), a tuple/list
    (``module(*batch)``) or a dict (``module(**batch)``).  The forward passes run under
    ``torch.no_grad()`` in eval mode (``train=False``: BatchNorm uses its running stats,
    dropout is off, so the result is deterministic) or train mode (``train=True``: batch
    statistics; dropout then draws from torch's RNG).  Afterwards every module's
    train/eval flag and every buffer (BatchNorm running statistics, ...) are restored, and
    the hooks removed, also on error.

    A first forward pass finds the layers before anything is written, so a batch the module
    rejects raises before any write.  Layers the forward pass never calls (e.g.
    ``MultiheadAttention.out_proj``, used through ``F.multi_head_attention_forward``) get
    step 1 only.  A layer whose output variance is 0 or not finite is left after step 1
    (nothing to divide by) and reported not converged.

    Returns the ``InitReport`` (``{parameter name: what was written}``), with ``report.lsuv``
    = ``{layer name: LSUVLayer(variance, iterations, converged)}``: the called layers in
    forward order, then the others.

    >>> report = lsuv_(net, torch.randn(64, 3, 32, 32), seed=0)
    """
    _check_module(module)
    if not real(tol, "tol") > 0:
        raise ValueError(f"tol must be > 0 (a bound on |variance - 1|); got {tol!r}")
    max_iter = integer(max_iter, "max_iter", lo=1)
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False; got {type(train).__name__} {train!r}")
    _check_keywords(seed, backend, threads)

    modes = [(m, m.training) for m in module.modules()]
    saved = [(mod, key, buf, buf.clone()) for mod in module.modules() for key, buf in mod._buffers.items()
             if buf is not None]
    hooks = []
    try:
        module.train(train)
        with torch.no_grad():
            # 1. which layers run, in which order (LazyLinear & co. materialize here)
            order = []

            def seen(mod, args, output):
                if mod not in order:
                    order.append(mod)

            hooks = [m.register_forward_hook(seen) for m in module.modules() if isinstance(m, _WEIGHTED)]
            _forward(module, batch)
            for h in hooks:
                h.remove()
            hooks = []
            ops = _Ops(module)
            layers = {}  # weight name -> (module name, module); a shared weight once
            for mod_name, mod in module.named_modules():
                if _weighted(mod):
                    name = ops.put(mod.weight, f"{mod_name}.weight", (_ORTHOGONAL,),
                                   "LSUV: not called by the forward pass")
                    layers.setdefault(name, (mod_name, mod))
            if not any(mod in order for _n, mod in layers.values()):
                raise ValueError("lsuv_: the forward pass called no Linear/Conv layer of module "
                                 f"(found {len(layers)} such layer(s)); nothing to fit")
            p = ops.plan("lsuv_", lambda n: "LSUV keeps it")
            report = write_(module, p, seed, backend=backend, threads=threads)

            # 2. layer by layer, in forward order: W = round(Q * g), g the product of 1 / sqrt(v)
            fits = {}
            by_module = {id(mod): (wname, mod_name) for wname, (mod_name, mod) in layers.items()}
            for mod in order:
                if id(mod) not in by_module or by_module[id(mod)][1] in fits:
                    continue
                wname, mod_name = by_module[id(mod)]
                view = as_numpy(mod.weight, wname)
                q = view.copy()                     # the orthogonal matrix as written
                outputs = []
                hooks = [mod.register_forward_hook(_collect(outputs))]
                _forward(module, batch)
                var, it, gain = _variance(outputs), 0, 1.0
                while abs(var - 1.0) >= tol and it < max_iter and math.isfinite(var) and var > 0:
                    gain /= math.sqrt(var)
                    view[...] = q
                    _plan.fill(view, (_scale(gain),), seed=seed, stream=wname)
                    torch.autograd.graph.increment_version(mod.weight)
                    it += 1
                    outputs.clear()
                    _forward(module, batch)
                    var = _variance(outputs)
                hooks[0].remove()
                hooks = []
                fits[mod_name] = LSUVLayer(var, it, bool(abs(var - 1.0) < tol))
                e = p.entries[wname]
                e.ops = (_ORTHOGONAL, _scale(gain)) if it else (_ORTHOGONAL,)
                e.source = f"LSUV: output variance {_fmt(var)} after {it} rescale(s)"
                report[wname] = f"{e.describe()} [{e.source}]"
            for mod_name, _mod in layers.values():
                fits.setdefault(mod_name, LSUVLayer(None, 0, False))
            report.lsuv = fits
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


def fixup_branches(module):
    """The residual branches of torchvision-style blocks: ``[block.conv1, block.conv2(, block.conv3)]``
    for every submodule with Conv attributes ``conv1`` and ``conv2`` (BasicBlock, Bottleneck and
    the Fixup paper's FixupBasicBlock/FixupBottleneck), in ``module.modules()`` order.  The
    shortcut (``downsample``) is not part of a branch.

    >>> fixup_(net, fixup_branches(net), seed=0)
    """
    _check_module(module)
    branches = []
    for mod in module.modules():
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


def fixup_(module, branches=None, classifier="auto", *, seed, mode="fan_in", scales=None, biases=None,
           backend=None, threads=None):
    """Fixup initialization (Zhang, Dauphin & Ma 2019) of a residual network, in place; returns the ``InitReport``.

    With ``L = len(branches)`` residual branches, branch ``b`` having ``m_b`` weighted layers:

    - the last layer of each branch: weight 0;
    - the other branch layers: He normal ``N(0, 2 / fan)`` (``kaiming_normal_(mode,
      nonlinearity="relu")``, stream = the weight's name) times ``L ** (-1 / (2 m_b - 2))``
      (the plan's ``scale``: computed in float64, rounded once);
    - the classifier: weight 0 and bias 0;
    - every other Linear/Conv weight of ``module`` (stem, shortcuts): He normal, unscaled;
    - the biases of all these layers: 0;
    - Fixup's scalar multipliers 1 and scalar biases 0: the parameters in ``scales`` and
      ``biases``, or (``None``) those named as in the paper's code: a last name component
      ``scale``, ``scale<k>`` -> 1; ``bias<k>``, ``bias<k>a``, ``bias<k>b`` -> 0
      (``bias1a``, ``bias2b``, ...; a plain ``bias`` never matches).

    ``branches``: a list of residual branches, each an ``nn.Module`` or a list of them; a
    branch's layers are the Linear/Conv modules in it in registration (``.modules()``)
    order, the last being the one zeroed.  ``None``: :func:`fixup_branches` (torchvision's
    ``conv1``, ``conv2``, ``conv3`` naming).  ``classifier``: ``"auto"`` = the last
    ``nn.Linear`` of ``module`` outside the branches (none: no classifier), a module, or None.
    ``mode``: ``"fan_in"`` (the paper's He init) or ``"fan_out"`` (the authors' ImageNet
    code uses ``sqrt(2 / (out_channels * kernel size))``).  Other parameters (norm layers,
    ...) are left unchanged.  The ``InitReport`` names what was written into every
    parameter of ``module`` (``"kaiming_normal(...); scale(0.57735) [Fixup: ...]"``,
    ``"unchanged (LayerNorm: not a Fixup parameter)"``).

    >>> report = fixup_(resnet, seed=0)                                  # torchvision-style blocks
    >>> report = fixup_(net, [b.branch for b in net.blocks], net.head, seed=0)
    """
    _check_module(module)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    _check_keywords(seed, backend, threads)
    if branches is None:
        branches = fixup_branches(module)
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
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear) and _weighted(m)
                   and id(m) not in in_branch]
        classifier = linears[-1] if linears else None
    elif classifier is not None:
        if not isinstance(classifier, torch.nn.Module) or not _weighted(classifier):
            raise TypeError(f"classifier must be 'auto', None or a Linear/Conv module; got {type(classifier).__name__}")
        if id(classifier) in in_branch:
            raise ValueError(f"the classifier is in branches[{in_branch[id(classifier)]}]")
    ops = _Ops(module)
    scale_params = None if scales is None else _params_list(scales, "scales")
    bias_params = None if biases is None else _params_list(biases, "biases")

    he = (_plan.scheme_op("kaiming_normal", a=0.0, mode=mode, nonlinearity="relu"),)

    def layer(mod, what, weight_ops, source):
        ops.put(mod.weight, what, weight_ops, source)
        if isinstance(mod._parameters.get("bias"), torch.nn.Parameter):
            ops.put(mod.bias, what, _ZEROS, source)

    for mod in module.modules():  # stem, shortcuts, ...: plain He
        if _weighted(mod) and id(mod) not in in_branch and mod is not classifier:
            layer(mod, "a layer", he, "Fixup: outside the branches")
    n_branches = len(branches)
    for i, layers in enumerate(branches):
        m = len(layers)
        for mod in layers[:-1]:
            factor = n_branches ** (-1.0 / (2 * m - 2))
            layer(mod, f"a layer of branches[{i}]", he + (_scale(factor),),
                  f"Fixup: L^(-1/(2m-2)) = {_fmt(factor)} (L={n_branches}, m={m})")
        layer(layers[-1], f"the last layer of branches[{i}]", _ZEROS, "Fixup: the last layer of a branch")
    if classifier is not None:
        layer(classifier, "classifier", _ZEROS, "Fixup: the classifier")
    if scale_params is None or bias_params is None:
        for name, p in module.named_parameters():
            last = name.rsplit(".", 1)[-1]
            if scale_params is None and _FIXUP_SCALE.fullmatch(last) and name not in ops:
                ops.put(p, name, _ONES, "Fixup multiplier")
            elif bias_params is None and _FIXUP_BIAS.fullmatch(last) and name not in ops:
                ops.put(p, name, _ZEROS, "Fixup bias")
    for p in scale_params or ():
        ops.put(p, "a parameter in scales", _ONES, "Fixup multiplier")
    for p in bias_params or ():
        ops.put(p, "a parameter in biases", _ZEROS, "Fixup bias")
    owners = _owner_types(module)
    p = ops.plan("fixup_", lambda n: f"{owners.get(n, 'the module')}: not a Fixup parameter")
    return write_(module, p, seed, backend=backend, threads=threads)


# ----------------------------------------------------------------------------------------
# T-Fixup


def _layer_list(layers, kind, what, module):
    if isinstance(layers, torch.nn.Module) or not hasattr(layers, "__iter__"):
        raise TypeError(f"{what} must be a list of nn.Modules; got {type(layers).__name__}")
    layers = list(layers)
    inside = {id(m) for m in module.modules()}
    for i, m in enumerate(layers):
        if not isinstance(m, kind):
            raise TypeError(f"{what} must hold {kind.__name__}s; got {type(m).__name__}")
        if id(m) not in inside:
            raise ValueError(f"{what}[{i}] ({type(m).__name__}) is not a submodule of module")
    return layers


def t_fixup_(module, *, seed, encoder_layers=None, decoder_layers=None, embeddings=None, encoder_embeddings=None,
             decoder_embeddings=None, distribution="uniform", backend=None, threads=None):
    """T-Fixup (Huang, Perez, Ba & Volkovs 2020) for transformers without layer norm, in place;
    returns the ``InitReport``.

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
    times the factor, computed in float64 and rounded once (the plan's ``scale``).
    ``encoder_layers``/``decoder_layers``: lists of layer modules; ``None`` finds every
    ``nn.TransformerEncoderLayer`` /
    ``nn.TransformerDecoderLayer``.  Inside a layer, every Linear/Conv except an attention's
    Q/K counts as output or MLP weight: write custom attention with ``nn.MultiheadAttention``.
    LayerNorm and other parameters are left unchanged (T-Fixup is meant for models without
    layer norm: replace ``norm1``... by ``nn.Identity()``).  The ``InitReport`` names what
    was written into every parameter of ``module``.

    >>> report = t_fixup_(torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False), seed=0)
    """
    _check_module(module)
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal'; got {distribution!r}")
    _check_keywords(seed, backend, threads)
    auto = (lambda kind: [m for m in module.modules() if isinstance(m, kind)])
    enc = auto(torch.nn.TransformerEncoderLayer) if encoder_layers is None else \
        _layer_list(encoder_layers, torch.nn.Module, "encoder_layers", module)
    dec = auto(torch.nn.TransformerDecoderLayer) if decoder_layers is None else \
        _layer_list(decoder_layers, torch.nn.Module, "decoder_layers", module)
    n_enc, n_dec = len(enc), len(dec)
    if n_enc + n_dec == 0:
        raise ValueError("t_fixup_: no encoder or decoder layers (none given, and module has no "
                         "nn.TransformerEncoderLayer/TransformerDecoderLayer)")
    if {id(m) for m in enc} & {id(m) for m in dec}:
        raise ValueError("a layer is both in encoder_layers and decoder_layers")
    explicit = encoder_embeddings is not None or decoder_embeddings is not None
    emb_enc = _layer_list(encoder_embeddings or [], torch.nn.Embedding, "encoder_embeddings", module)
    emb_dec = _layer_list(decoder_embeddings or [], torch.nn.Embedding, "decoder_embeddings", module)
    if embeddings is None:
        embeddings = [] if explicit else auto(torch.nn.Embedding)
    emb_all = _layer_list(embeddings, torch.nn.Embedding, "embeddings", module)
    if emb_enc and not n_enc:
        raise ValueError("encoder_embeddings given but there are no encoder layers (N = 0)")
    if emb_dec and not n_dec:
        raise ValueError("decoder_embeddings given but there are no decoder layers (M = 0)")

    f_enc = 0.67 * n_enc ** -0.25 if n_enc else None
    f_dec = (9 * n_dec) ** -0.25 if n_dec else None
    f_emb_enc = (9 * n_enc) ** -0.25 if n_enc else None
    f_emb = f_dec if n_dec else f_emb_enc
    xavier = (_plan.scheme_op(f"xavier_{distribution}"),)
    ops = _Ops(module)
    factors = {}  # id(module) -> (factor, label) of the layer it is in
    for layers, factor, label in ((enc, f_enc, f"0.67*N^(-1/4) (N={n_enc})"),
                                  (dec, f_dec, f"(9M)^(-1/4) (M={n_dec})")):
        for layer in layers:
            for m in layer.modules():
                factors[id(m)] = (factor, label)

    def bias_zero(mod, attr, what):
        if isinstance(mod._parameters.get(attr), torch.nn.Parameter):
            ops.put(mod._parameters[attr], what, _ZEROS, "T-Fixup")

    for mod in module.modules():
        factor, label = factors.get(id(mod), (None, None))
        scaled = () if factor is None else (_scale(factor),)
        why = "T-Fixup" if factor is None else f"T-Fixup: {label} = {_fmt(factor)}"
        if _weighted(mod):
            ops.put(mod.weight, "a layer", xavier + scaled, why)
            bias_zero(mod, "bias", "a layer")
        elif isinstance(mod, torch.nn.MultiheadAttention):
            p = mod._parameters
            if isinstance(p.get("in_proj_weight"), torch.nn.Parameter):
                d = mod.embed_dim
                v = () if factor is None else (_scale(math.sqrt(2.0) * factor, rows=(2 * d, 3 * d)),)
                vwhy = "T-Fixup" if factor is None else f"T-Fixup: V rows {2 * d}:{3 * d} * sqrt(2) * {label}"
                ops.put(p["in_proj_weight"], "in_proj_weight", xavier + v, vwhy)
            for attr in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                if isinstance(p.get(attr), torch.nn.Parameter):
                    s = scaled if attr == "v_proj_weight" else ()
                    ops.put(p[attr], attr, xavier + s, why if s else "T-Fixup")
            bias_zero(mod, "in_proj_bias", "in_proj_bias")
            for attr in ("bias_k", "bias_v"):
                if isinstance(p.get(attr), torch.nn.Parameter):
                    ops.put(p[attr], attr, (_plan.scheme_op("xavier_normal"),), "T-Fixup")
    for embs, factor, label in ((emb_all, f_emb, f"(9{'M' if n_dec else 'N'})^(-1/4)"),
                                (emb_enc, f_emb_enc, "(9N)^(-1/4)"), (emb_dec, f_dec, "(9M)^(-1/4)")):
        for e in embs:
            if not isinstance(e._parameters.get("weight"), torch.nn.Parameter):
                continue
            std = e.embedding_dim ** -0.5
            pad = () if e.padding_idx is None else (_plan.scheme_op("zeros", rows=(e.padding_idx, e.padding_idx + 1)),)
            ops.put(e.weight, "an embedding", (_plan.scheme_op("normal", std=std), _scale(factor)) + pad,
                    f"T-Fixup: std d^-1/2, {label} = {_fmt(factor)}")
    owners = _owner_types(module)
    p = ops.plan("t_fixup_", lambda n: f"{owners.get(n, 'the module')}: no T-Fixup rule")
    return write_(module, p, seed, backend=backend, threads=threads)
