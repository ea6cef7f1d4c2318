"""fastinit.torch as torch.nn.init itself: seedless draws from torch's generator, any tensor torch
accepts, torch's errors and warnings, unchanged user code, and install()."""

import math
import re

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

import fastinit  # noqa: E402
import fastinit.torch as init  # noqa: E402  (the line user code changes)
from fastinit import schemes  # noqa: E402

# KS p-value floor: a correct sampler fails with probability 1e-4 per check (all checks here
# are seeded, so a pass is reproducible)
ALPHA = 1e-4


# ------------------------------------------------------------------ where the key comes from

def test_seedless_follows_torch_manual_seed_and_successive_calls_differ():
    torch.manual_seed(123)
    a = init.normal_(torch.empty(300, 200))
    b = init.normal_(torch.empty(300, 200))
    torch.manual_seed(123)
    a2 = init.normal_(torch.empty(300, 200))
    assert torch.equal(a, a2)
    assert (a == b).float().mean().item() < 1e-3


def test_generator_argument_is_torch_generators_state():
    g = torch.Generator().manual_seed(7)
    x = init.trunc_normal_(torch.empty(1000), generator=g)
    torch.manual_seed(7)
    y = init.trunc_normal_(torch.empty(1000))
    assert torch.equal(x, y)
    z = init.trunc_normal_(torch.empty(1000), generator=g)  # the generator moved on
    assert not torch.equal(x, z)


def test_seeded_is_the_counter_based_contract():
    t = init.xavier_uniform_(torch.empty(64, 32), seed=5, stream="fc.weight")
    ref = schemes.xavier_uniform_(np.empty((64, 32), np.float32), seed=5, stream="fc.weight")
    assert np.array_equal(t.numpy(), ref)


def test_seed_needs_stream_and_excludes_generator():
    t = torch.full((4, 4), 7.0)
    with pytest.raises(TypeError, match=r"stream= is required with seed=: name the tensor"):
        init.normal_(t, seed=0)
    with pytest.raises(TypeError, match="not both"):
        init.normal_(t, seed=0, stream="t", generator=torch.Generator())
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        init.normal_(t, generator=3)
    assert (t == 7).all()


def test_refused_call_leaves_the_generator_alone():
    torch.manual_seed(1)
    state = torch.get_rng_state()
    with pytest.raises(ValueError):
        init.uniform_(torch.empty(5), 2.0, 1.0)
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------------ any tensor torch accepts

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_transposed_and_sliced_tensors_get_their_logical_indices(dtype):
    w = torch.empty(48, 80, dtype=dtype)
    init.kaiming_uniform_(w.T, a=math.sqrt(5), seed=3, stream="w")  # torch's docstring pattern
    ref = init.kaiming_uniform_(torch.empty(80, 48, dtype=dtype), a=math.sqrt(5), seed=3, stream="w")
    assert torch.equal(w.T, ref)
    cols = torch.zeros(40, 30, dtype=dtype)
    init.normal_(cols[:, 5:17], seed=1, stream="c")
    assert torch.equal(cols[:, 5:17], init.normal_(torch.empty(40, 12, dtype=dtype), seed=1, stream="c"))
    assert (cols[:, :5] == 0).all() and (cols[:, 17:] == 0).all()


@pytest.mark.parametrize("name, call", [
    ("kaiming_uniform", lambda t, **k: init.kaiming_uniform_(t, a=math.sqrt(5), **k)),
    ("trunc_normal", lambda t, **k: init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04, **k)),
    ("sparse", lambda t, **k: init.sparse_(t, 0.5, **k)),
    ("orthogonal", lambda t, **k: init.orthogonal_(t, **k)),
    ("eye", lambda t, **k: init.eye_(t)),
])
def test_large_transposed_tensor_is_filled_in_blocks_with_the_whole_fills_bits(name, call):
    """(3000, 700) float32 is 8 MiB: the block path runs three shards of leading rows."""
    w = torch.empty(700, 3000)
    call(w.T, seed=4, stream="big")
    assert torch.equal(w.T, call(torch.empty(3000, 700), seed=4, stream="big"))


def test_channels_last_conv_weight_keeps_its_layout():
    w = torch.empty(64, 32, 3, 3).to(memory_format=torch.channels_last)
    ptr = w.data_ptr()
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", seed=0, stream="conv")
    assert w.data_ptr() == ptr and w.is_contiguous(memory_format=torch.channels_last)
    ref = init.kaiming_normal_(torch.empty(64, 32, 3, 3), mode="fan_out", nonlinearity="relu", seed=0, stream="conv")
    assert torch.equal(w, ref)


def test_meta_tensors_are_checked_and_left_as_torch_leaves_them():
    state = torch.get_rng_state()
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.normal_, init.orthogonal_, init.eye_):
        t = torch.empty(8, 4, device="meta")
        assert fn(t) is t and t.is_meta
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(torch.empty(5, device="meta"))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(torch.empty(5, device="meta"))
    with pytest.raises(RuntimeError):
        init.uniform_(torch.empty(5, device="meta"), 2.0, 1.0)


# ------------------------------------------------------------------ writes torch refuses

OVERLAP = "more than one element of the written-to tensor refers to a single memory location"
INFERENCE = "Inplace update to inference tensor outside InferenceMode is not allowed"

# every public in-place initializer, as (module, tensor) -> call; the deterministic ones last
WRITERS = {
    "uniform_": lambda m, t: m.uniform_(t, -0.5, 0.5),
    "normal_": lambda m, t: m.normal_(t, 0.0, 0.02),
    "trunc_normal_": lambda m, t: m.trunc_normal_(t, std=0.02, a=-0.04, b=0.04),
    "xavier_uniform_": lambda m, t: m.xavier_uniform_(t),
    "xavier_normal_": lambda m, t: m.xavier_normal_(t),
    "kaiming_uniform_": lambda m, t: m.kaiming_uniform_(t, a=math.sqrt(5)),
    "kaiming_normal_": lambda m, t: m.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
    "orthogonal_": lambda m, t: m.orthogonal_(t),
    "sparse_": lambda m, t: m.sparse_(t, 0.5),
    "constant_": lambda m, t: m.constant_(t, 0.5),
    "ones_": lambda m, t: m.ones_(t),
    "zeros_": lambda m, t: m.zeros_(t),
    "eye_": lambda m, t: m.eye_(t),
    "dirac_": lambda m, t: m.dirac_(t),
}
RANDOM = [n for n in WRITERS if n not in ("constant_", "ones_", "zeros_", "eye_", "dirac_")]
METHODS = {"Tensor.normal_": lambda t: t.normal_(1.0, 2.0), "Tensor.uniform_": lambda t: t.uniform_(-1.0, 1.0)}


def _shape(name):
    return (4, 3, 3) if name == "dirac_" else (4, 3)


def _shared(kind, shape):
    """``(base, view)``: a view of ``base`` whose dim 0 (size 4) has stride 0, poisoned."""
    base = torch.full(shape[1:], 7.0)
    if kind == "expand":
        return base, base.expand(shape)
    return base, base.as_strided(shape, (0,) + base.stride())


def _refused_untouched(call, base, match):
    """``call`` raises a RuntimeError matching ``match``; neither ``base``'s bytes nor torch's
    generator moved."""
    before, state = base.clone(), torch.get_rng_state()
    with pytest.raises(RuntimeError, match=match):
        call()
    assert torch.equal(base, before) and torch.equal(torch.get_rng_state(), state)


def _seeded(name, t):
    """fastinit's counter-based call of initializer ``name`` on ``t``."""
    extra = (0.5,) if name == "sparse_" else ()
    return getattr(init, name)(t, *extra, seed=0, stream="e")


@pytest.mark.parametrize("kind", ["expand", "as_strided"])
@pytest.mark.parametrize("name", RANDOM)
def test_tensor_whose_elements_share_memory_is_refused_as_torch_refuses_it(name, kind):
    shape = _shape(name)
    with pytest.raises(RuntimeError, match=OVERLAP):  # torch (its orthogonal_ draws first: no state check)
        WRITERS[name](torch.nn.init, _shared(kind, shape)[1])
    base, view = _shared(kind, shape)
    _refused_untouched(lambda: WRITERS[name](init, view), base, rf"{OVERLAP}.*tensor has shape \(4, 3")
    _refused_untouched(lambda: _seeded(name, view), base, r"dim 0, of size 4, has stride 0")
    with pytest.raises(ValueError, match=OVERLAP):  # InitArgumentError: a ValueError too
        _seeded(name, view)
    with init.installed():  # torch.nn.init.<name> routed through fastinit
        _refused_untouched(lambda: WRITERS[name](torch.nn.init, view), base, OVERLAP)


@pytest.mark.parametrize("kind", ["expand", "as_strided"])
@pytest.mark.parametrize("method", list(METHODS))
def test_installed_tensor_methods_refuse_shared_memory_as_torch_does(method, kind):
    _refused_untouched(lambda: METHODS[method](_shared(kind, (2, 3))[1]), torch.zeros(1), OVERLAP)
    base, view = _shared(kind, (2, 3))
    with init.installed():
        _refused_untouched(lambda: METHODS[method](view), base, OVERLAP)


@pytest.mark.parametrize("kind", ["expand", "as_strided"])
@pytest.mark.parametrize("name", ["constant_", "ones_", "zeros_", "eye_", "dirac_"])
def test_deterministic_writers_take_what_torch_takes(name, kind):
    """torch's fill_/zero_ and its eye_/dirac_ write an expanded tensor: no refusal here either,
    and the memory holds what torch leaves in it (which write wins is torch's order)."""
    (theirs, tv), (mine, mv), (routed, rv) = (_shared(kind, _shape(name)) for _ in range(3))
    assert WRITERS[name](torch.nn.init, tv) is tv and WRITERS[name](init, mv) is mv
    with init.installed():   # torch.nn.init.<name> is fastinit's, which must reach torch's own
        assert WRITERS[name](torch.nn.init, rv) is rv
    assert torch.equal(mine, theirs) and torch.equal(routed, theirs) and not (mine == 7).all()


def test_views_torch_writes_stay_written():
    """A size-1 dim of stride 0 is no overlap (the bits of the contiguous fill); as_strided views
    torch cannot decide about (``has_internal_overlap`` "too hard") are written, as torch does."""
    ref = init.normal_(torch.empty(30, 1, 40), seed=2, stream="w")
    for strides in ((40, 0, 1), (1, 0, 30)):  # contiguous, and transposed (the block path)
        one = torch.zeros(1200).as_strided((30, 1, 40), strides)
        init.normal_(one, seed=2, stream="w")
        assert torch.equal(one, ref)
        torch.nn.init.normal_(one)
    for module in (torch.nn.init, init):
        hard = torch.zeros(12).as_strided((3, 3), (1, 1))  # element (i, j) at i + j
        module.uniform_(hard, 1.0, 2.0)
        assert (hard >= 1).all()


@pytest.mark.parametrize("name", list(WRITERS) + list(METHODS))
def test_inference_tensor_refused_outside_inference_mode_and_written_inside(name):
    shape = _shape(name) if name in WRITERS else (4, 3)
    if name in WRITERS:
        torch_call, call, routed = (lambda t: WRITERS[name](torch.nn.init, t), lambda t: WRITERS[name](init, t),
                                    lambda t: WRITERS[name](torch.nn.init, t))
    else:
        torch_call = call = routed = METHODS[name]
    with torch.inference_mode():
        t = torch.full(shape, 7.0)
    for view in (t, t.transpose(0, 1)):
        with pytest.raises(RuntimeError, match=INFERENCE):  # torch (its orthogonal_ draws first)
            torch_call(view)
        if name in WRITERS:
            _refused_untouched(lambda: call(view), t, INFERENCE)
        with init.installed():
            _refused_untouched(lambda: routed(view), t, INFERENCE)
    with torch.inference_mode():
        assert torch_call(torch.full(shape, 7.0)) is not None
        for fill, installed in ((call, False), (routed, True)):
            t = torch.full(shape, 7.0)
            if installed:
                with init.installed():
                    assert fill(t) is t
            else:
                assert fill(t) is t
            assert not (t == 7).all()


def test_inference_tensor_refused_by_every_zero_copy_write():
    """The core fills given a tensor, ``as_numpy`` and ``init_module_`` write through a NumPy
    view, which torch's check never sees: they refuse an inference tensor outside the mode too."""
    with torch.inference_mode():
        t = torch.full((8, 4), 7.0)
        net = torch.nn.Linear(4, 8)
        net.register_buffer("steps", torch.full((3,), 7))   # an int buffer: a NumPy view torch never checks
    net.reset_parameters = lambda: (torch.nn.init.normal_(net.weight), torch.nn.init.ones_(net.steps))
    for call in (lambda: fastinit.normal_(t, seed=0, stream="w"), lambda: init.as_numpy(t),
                 lambda: schemes.xavier_uniform_(t, seed=0, stream="w")):
        with pytest.raises(ValueError, match=rf"{INFERENCE}.*tensor is an inference tensor"):
            call()
    assert (t == 7).all()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=rf"{INFERENCE}.*(weight|steps) is an inference tensor"):
        init.init_module_(net, seed=0)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    with torch.inference_mode():
        fastinit.normal_(t, seed=0, stream="w")
        init.init_module_(net, seed=0)
    assert torch.equal(t, fastinit.normal_(torch.empty(8, 4), seed=0, stream="w"))
    assert not torch.equal(net.weight, before["weight"]) and (net.steps == 1).all()

    class Counter(torch.nn.Module):   # nothing but an int buffer its init writes
        def __init__(self):
            super().__init__()
            self.register_buffer("steps", torch.full((3,), 7))

        def reset_parameters(self):
            torch.nn.init.ones_(self.steps)

    with torch.inference_mode():
        counter = Counter()
    with pytest.raises(ValueError, match=rf"{INFERENCE}.*steps is an inference tensor"):
        init.init_module_(counter, seed=0)
    assert (counter.steps == 7).all()


def test_inference_tensor_inside_inference_mode_gets_the_bits_of_a_normal_one():
    ref = init.trunc_normal_(torch.empty(30, 20), std=0.02, a=-0.04, b=0.04, seed=1, stream="w")
    with torch.inference_mode():
        t = torch.empty(30, 20)
        init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04, seed=1, stream="w")
    assert t.is_inference() and torch.equal(t, ref)
    with torch.inference_mode():
        t = torch.empty(3, 3)
    with pytest.raises(RuntimeError, match=rf"{INFERENCE}.*tensor is an inference tensor"):
        init.normal_(t, seed=0, stream="w")


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.complex64, torch.uint8])
def test_constants_on_any_dtype(dtype):
    for fn, val in ((init.zeros_, 0), (init.ones_, 1)):
        t = torch.full((3, 4), 5, dtype=dtype) if dtype != torch.bool else torch.zeros(3, 4, dtype=dtype)
        assert fn(t) is t and torch.equal(t, torch.full((3, 4), val, dtype=dtype))
    t = torch.empty(3, 4, dtype=dtype)
    assert torch.equal(init.constant_(t, 1), torch.nn.init.constant_(torch.empty(3, 4, dtype=dtype), 1))
    e = init.eye_(torch.empty(3, 4, dtype=dtype))
    assert torch.equal(e, torch.nn.init.eye_(torch.empty(3, 4, dtype=dtype)))


def test_zeros_takes_a_sparse_tensor_as_torch_does():
    make = lambda: torch.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2), check_invariants=True)  # noqa: E731
    mine, theirs = make(), make()
    assert init.zeros_(mine) is mine and torch.equal(mine.to_dense(), torch.nn.init.zeros_(theirs).to_dense())
    assert not mine.to_dense().any()
    with pytest.raises(ValueError, match="layout torch.sparse_coo"):   # torch's fill_ has no sparse kernel either
        init.ones_(make())


def test_constant_values_torch_accepts():
    t = init.constant_(torch.empty(4, 5), float("-inf"))
    assert torch.isneginf(t).all()
    assert (init.constant_(torch.empty(3), torch.tensor(2.5)) == 2.5).all()
    assert (init.uniform_(torch.empty(1000), torch.tensor(0.5), 1.0) >= 0.5).all()
    p = torch.nn.Parameter(torch.empty(3, 3))
    assert init.zeros_(p) is p and (p == 0).all() and p.requires_grad


def test_random_fills_refuse_non_float_tensors():
    with pytest.raises(TypeError, match="floating-point tensor"):
        init.normal_(torch.empty(3, dtype=torch.int32))


# ------------------------------------------------------------------ torch's errors, warnings, names

def test_torch_error_types():
    for call in (lambda: init.uniform_(torch.empty(3), 2, 1), lambda: init.normal_(torch.empty(3), 0, -1)):
        with pytest.raises(RuntimeError):  # torch raises RuntimeError here ...
            call()
        with pytest.raises(ValueError):    # ... fastinit's convention is ValueError: both hold
            call()
    with pytest.raises(ValueError, match="Mode bad not supported"):
        init.kaiming_uniform_(torch.empty(3, 4), mode="bad")
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.sparse_(torch.empty(3), 0.5)
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(torch.empty(5, 3, 3), 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        init.normal_(np.zeros(3))


def test_errors_name_the_callers_parameters():
    """fastinit.uniform_ calls its bounds low/high; torch.nn.init.uniform_ calls them a/b,
    Tensor.uniform_ from/to: each error names what the caller passed."""
    t, h = torch.full((3,), 7.0), torch.full((3,), 7.0, dtype=torch.float16)
    for call, match in [
        (lambda: init.uniform_(t, 2, 1), "a must be <= b; got a=2.0, b=1.0"),
        (lambda: init.uniform_(t, b=math.inf), "b must be finite; got inf"),
        (lambda: init.uniform_(h, 0, 1e5), "b=100000.0 is outside the range of float16"),
        (lambda: init.uniform_(t, -3e38, 3e38, seed=0, stream="t"), "b - a = 6e+38 overflows float32"),
        (lambda: init.normal_(t, math.inf), "mean must be finite; got inf"),
        (lambda: init.normal_(t, std=-1), "std must be >= 0; got -1.0"),
        (lambda: init.trunc_normal_(t, 0, 1, 2, 1), "a must be < b; got a=2.0, b=1.0"),
        (lambda: init.trunc_normal_(h, a=-1e5), "a=-100000.0 is outside the range of float16"),
    ]:
        with pytest.raises(RuntimeError, match=re.escape(match)):
            call()
    with pytest.raises(TypeError, match="a must be a real number"):
        init.uniform_(t, "0")
    with init.installed():
        for call, match in [
            (lambda: t.uniform_(2, 1), "from must be <= to; got from=2.0, to=1.0"),
            (lambda: t.uniform_(**{"from": 0, "to": math.inf}), "to must be finite; got inf"),
            (lambda: h.uniform_(-1e5, 0), "from=-100000.0 is outside the range of float16"),
            (lambda: t.normal_(0, -1), "std must be >= 0; got -1.0"),
            (lambda: torch.nn.init.uniform_(t, 2, 1), "a must be <= b; got a=2.0, b=1.0"),
        ]:
            with pytest.raises(RuntimeError, match=re.escape(match)):
                call()
    assert (t == 7).all() and (h == 7).all()
    with pytest.raises(ValueError, match=re.escape("low must be <= high; got low=2.0, high=1.0")):
        fastinit.uniform_(np.empty(3, np.float32), 2, 1, seed=0, stream="t")  # fastinit's own names


@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
def test_zero_element_warning(fn):
    t = torch.empty(0, 4)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert fn(t) is t


def test_deprecated_aliases_warn_and_work():
    for name in init._init.DEPRECATED:
        with pytest.warns(FutureWarning, match=rf"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`"):
            t = torch.empty(6, 4, 3) if name == "dirac" else torch.empty(6, 4)
            getattr(init, name)(t, *((0.5,) if name in ("constant", "sparse") else ()))


def test_private_helpers_match_torch():
    for shape in ((5, 3), (64, 3, 7, 7), (2, 8, 3)):
        t = torch.empty(shape)
        assert init._calculate_fan_in_and_fan_out(t) == torch.nn.init._calculate_fan_in_and_fan_out(t)
        for mode in ("fan_in", "FAN_OUT"):
            assert init._calculate_correct_fan(t, mode) == torch.nn.init._calculate_correct_fan(t, mode)
    torch.manual_seed(0)
    a = init._no_grad_trunc_normal_(torch.empty(100), 0.0, 1.0, -2.0, 2.0)
    torch.manual_seed(0)
    assert torch.equal(a, init.trunc_normal_(torch.empty(100)))
    assert (init._no_grad_fill_(torch.empty(3), 2.0) == 2).all() and (init._no_grad_zero_(torch.ones(3)) == 0).all()


# ------------------------------------------------------------------ unchanged user code

def _distinct(named):
    """No two tensors share values: position-wise equality stays at chance level (float32
    draws collide with probability ~1e-7) and leading elements are uncorrelated."""
    items = [(n, t.detach().flatten().double()) for n, t in named if t.numel() >= 64]
    for i, (na, a) in enumerate(items):
        for nb, b in items[i + 1:]:
            k = min(a.numel(), b.numel())
            same = (a[:k] == b[:k]).double().mean().item()
            assert same < 0.01, f"{na} and {nb} share {same:.1%} of their leading values"
            if a[:k].std() > 0 and b[:k].std() > 0:
                r = np.corrcoef(a[:k].numpy(), b[:k].numpy())[0, 1]
                assert abs(r) < 6 / math.sqrt(k), f"{na} and {nb} correlate: r = {r:.3f}"


def _ks(t, dist):
    assert stats.kstest(t.detach().flatten().double().numpy(), dist).pvalue > ALPHA


class _Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn, self.c_proj = torch.nn.Linear(c, 3 * c), torch.nn.Linear(c, c)
        self.c_fc, self.mlp_proj = torch.nn.Linear(c, 4 * c), torch.nn.Linear(4 * c, c)


def test_nanogpt_init_weights():
    n_layer, c, vocab = 4, 64, 512
    model = torch.nn.ModuleDict({"wte": torch.nn.Embedding(vocab, c), "wpe": torch.nn.Embedding(128, c),
                                 "h": torch.nn.ModuleList(_Block(c) for _ in range(n_layer))})

    def _init_weights(module):  # nanoGPT's, with `init` for torch.nn.init
        if isinstance(module, torch.nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=0.02)

    torch.manual_seed(1337)
    model.apply(_init_weights)
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert (p == 0).all()
        else:
            std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
            _ks(p, stats.norm(0, std).cdf)
    _distinct([(n, p) for n, p in model.named_parameters() if not n.endswith("bias")])


def test_resnet_init_loop():
    layers = [torch.nn.Conv2d(3, 64, 7, bias=False), torch.nn.BatchNorm2d(64)]
    for _ in range(4):
        layers += [torch.nn.Conv2d(64, 64, 3, bias=False), torch.nn.BatchNorm2d(64)]
    model = torch.nn.Sequential(*layers)
    torch.manual_seed(0)
    for m in model.modules():  # torchvision's ResNet loop
        if isinstance(m, torch.nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            init.constant_(m.weight, 1)
            init.constant_(m.bias, 0)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
            _ks(m.weight, stats.norm(0, math.sqrt(2.0 / fan_out)).cdf)
        elif isinstance(m, torch.nn.BatchNorm2d):
            assert (m.weight == 1).all() and (m.bias == 0).all()
    _distinct([(n, p) for n, p in model.named_parameters() if p.dim() == 4])


def test_lstm_per_gate_init():
    h = 64
    lstm = torch.nn.LSTM(32, h, num_layers=2)
    torch.manual_seed(0)
    for name, p in lstm.named_parameters():  # the per-gate recipe
        if "weight_ih" in name:
            for g in range(4):
                init.xavier_uniform_(p.data[g * h:(g + 1) * h])
        elif "weight_hh" in name:
            for g in range(4):
                init.orthogonal_(p.data[g * h:(g + 1) * h])
        elif "bias" in name:
            init.zeros_(p.data)
            p.data[h:2 * h].fill_(1.0)
    blocks = []
    for name, p in lstm.named_parameters():
        for g in range(4):
            block = p.data[g * h:(g + 1) * h]
            if "weight_ih" in name:
                bound = math.sqrt(6.0 / (block.shape[0] + block.shape[1]))
                _ks(block, stats.uniform(-bound, 2 * bound).cdf)
                blocks.append((f"{name}[{g}]", block))
            elif "weight_hh" in name:
                assert torch.allclose(block @ block.T, torch.eye(h), atol=1e-5)
                blocks.append((f"{name}[{g}]", block))
            else:
                assert (block == (1.0 if g == 1 else 0.0)).all()
    _distinct(blocks)


# ------------------------------------------------------------------ install()

def _model():
    return torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Embedding(1000, 64), torch.nn.Conv2d(8, 16, 3))


def test_install_routes_unmodified_code_and_uninstall_restores_torch_exactly():
    before_init, before_tensor = dict(vars(torch.nn.init)), dict(torch.Tensor.__dict__)
    with init.installed():
        assert init.is_installed()
        torch.manual_seed(0)
        m1 = _model()
        torch.manual_seed(0)
        m2 = _model()
    assert not init.is_installed()
    assert dict(vars(torch.nn.init)) == before_init
    assert torch.Tensor.__dict__.keys() == before_tensor.keys()
    assert all(torch.Tensor.__dict__[k] is v for k, v in before_tensor.items())
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)  # torch.manual_seed reproduces
    _distinct(list(m1.named_parameters()))
    # nn.Linear's reset_parameters, run through fastinit.torch seedless, from the same generator state
    torch.manual_seed(0)
    w, b = torch.empty(512, 256), torch.empty(512)
    init.kaiming_uniform_(w, a=math.sqrt(5))
    init.uniform_(b, -1 / math.sqrt(256), 1 / math.sqrt(256))
    assert torch.equal(m1[0].weight, w) and torch.equal(m1[0].bias, b)
    _ks(m1[1].weight, stats.norm(0, 1).cdf)
    with pytest.raises(RuntimeError, match="not installed"):
        init.uninstall()


def test_installed_tensor_methods_and_what_stays_with_torch():
    with init.installed():
        torch.manual_seed(3)
        x = torch.empty(2000).normal_(1.0, 2.0)
        u = torch.empty(2000).uniform_(-1, 1)
        torch.manual_seed(3)
        assert torch.equal(x, init.normal_(torch.empty(2000), 1.0, 2.0))
        assert torch.equal(u, init.uniform_(torch.empty(2000), -1.0, 1.0))
        p = torch.nn.Parameter(torch.empty(3))
        with pytest.raises(RuntimeError, match="leaf Variable"):  # autograd's own refusal, as in torch
            p.normal_()
        i = torch.empty(10, dtype=torch.float32, device="meta").normal_()
        assert i.is_meta
        c = torch.empty(100, dtype=torch.complex64).normal_()  # torch's own complex normal
        assert c.dtype == torch.complex64 and c.abs().max() > 0
        c = torch.nn.init.normal_(torch.empty(100, dtype=torch.complex64))
        assert c.abs().max() > 0
        assert (torch.nn.init.ones_(torch.empty(3, dtype=torch.int32)) == 1).all()
        with pytest.warns(UserWarning, match="zero-element"):  # torch's warning, from nn.Linear's own init
            torch.nn.Linear(4, 0)
    _ks(x, stats.norm(1, 2).cdf)
    _ks(u, stats.uniform(-1, 2).cdf)


def test_install_stacks_and_from_config():
    transformers = pytest.importorskip("transformers")
    init.install()
    try:
        init.install()
        init.uninstall()
        assert init.is_installed()
        cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=64)
        torch.manual_seed(0)
        m1 = transformers.GPT2LMHeadModel(cfg)
        torch.manual_seed(0)
        m2 = transformers.GPT2LMHeadModel(cfg)
    finally:
        init.uninstall()
    assert not init.is_installed()
    for (n, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        assert torch.equal(p1, p2), n
    _ks(m1.transformer.wte.weight, stats.norm(0, cfg.initializer_range).cdf)
    _distinct([(n, p) for n, p in m1.named_parameters() if p.dim() == 2 and "wte" not in n])
