"""fastinit.jax: jax.nn.initializers' names and distributions with fastinit's bits."""

import hashlib
import inspect

import ml_dtypes
import numpy as np
import pytest
from scipy import stats

jax = pytest.importorskip("jax")

import jax.numpy as jnp

import fastinit
import fastinit.jax as fj
from fastinit import schemes
from fastinit.jax import initializers as I

KEY = 7
STREAM = "layer.kernel"
# JAX < 0.6: no jax.enable_x64 (jax.experimental's) and no "fan_geo_avg"; the project admits jax 0.5
enable_x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else __import__("jax.experimental").experimental.enable_x64


def jax_has_mode(mode):
    try:
        jax.nn.initializers.variance_scaling(1.0, mode, "normal")(jax.random.key(0), (2, 2))
    except ValueError:
        return False
    return True


DTYPES = [np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)]


def bits(a):
    a = np.ascontiguousarray(np.asarray(a))
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64, 16: np.uint64}[a.dtype.itemsize])


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(bits(a), bits(b))


def moved(fill, shape, axis, dtype):
    """JAX's orthogonal layout for column_axis=axis: fill shape-without-axis + (n,), move -1 to axis."""
    tmp = np.empty(shape[:axis] + shape[axis + 1:] + (shape[axis],), dtype)
    return np.moveaxis(fill(tmp), -1, axis)


def centred(tap, shape):
    w = np.zeros(shape, tap.dtype)
    w[tuple((k - 1) // 2 for k in shape[:-2])] = tap
    return w


def _preset_ref(name):
    fn = getattr(schemes, name + "_")
    return lambda o, s, t: fn(o, layout="jax", seed=s, stream=t)


# (factory, kwargs, shape, reference(out, seed, stream) -> array): the NumPy fill with the same
# seed, stream and JAX's layout
CASES = {
    "uniform": (I.uniform, {"scale": 0.5}, (5, 7), lambda o, s, t: fastinit.uniform_(o, 0, 0.5, seed=s, stream=t)),
    "uniform_neg": (I.uniform, {"scale": -0.5}, (5, 7),
                    lambda o, s, t: fastinit.uniform_(o, -0.5, 0, seed=s, stream=t)),
    "normal": (I.normal, {"stddev": 0.3}, (5, 7), lambda o, s, t: fastinit.normal_(o, 0, 0.3, seed=s, stream=t)),
    "truncated_normal": (I.truncated_normal, {"stddev": 0.3, "lower": -1.0, "upper": 1.5}, (5, 7),
                         lambda o, s, t: fastinit.trunc_normal_(o, 0, 0.3, -1.0, 1.5, bounds="std", seed=s,
                                                                stream=t)),
    "variance_scaling_axes": (I.variance_scaling, {"scale": 2.0, "mode": "fan_geo_avg", "distribution": "normal",
                                                   "in_axis": 0, "out_axis": (1, 2), "batch_axis": 3}, (4, 3, 5, 2),
                              lambda o, s, t: schemes.variance_scaling_(o, 2.0, "fan_geo_avg", "normal", in_axis=0,
                                                                        out_axis=(1, 2), batch_axis=3, seed=s,
                                                                        stream=t)),
    "variance_scaling_default": (I.variance_scaling,
                                 {"scale": 0.5, "mode": "fan_out", "distribution": "truncated_normal"}, (3, 3, 8, 16),
                                 lambda o, s, t: schemes.variance_scaling_(o, 0.5, "fan_out", "truncated_normal",
                                                                           layout="jax", seed=s, stream=t)),
    **{name: (getattr(I, name), {}, (3, 3, 8, 16), _preset_ref(name))
       for name in ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal")},
    "orthogonal": (I.orthogonal, {"scale": 1.5}, (6, 5, 12),
                   lambda o, s, t: fastinit.orthogonal_(o, 1.5, layout="jax", seed=s, stream=t)),
    "orthogonal_axis0": (I.orthogonal, {"column_axis": 0}, (12, 5, 6),
                         lambda o, s, t: moved(lambda m: fastinit.orthogonal_(m, layout="jax", seed=s, stream=t),
                                               o.shape, 0, o.dtype)),
    "delta_orthogonal": (I.delta_orthogonal, {"scale": 0.5}, (3, 4, 8, 16),
                         lambda o, s, t: fastinit.delta_orthogonal_(o, 0.5, layout="jax", seed=s, stream=t)),
    "delta_orthogonal_axis-2": (I.delta_orthogonal, {"column_axis": -2}, (3, 8, 8),
                                lambda o, s, t: centred(moved(lambda m: fastinit.orthogonal_(
                                    m, layout="jax", seed=s, stream=t), (8, 8), 0, o.dtype), o.shape)),
}


# ------------------------------------------------------------------ names and signatures

def test_every_jax_name_with_jax_signature_plus_stream():
    names = {n for n in dir(jax.nn.initializers) if not n.startswith("_") and n != "Initializer"}
    assert names <= set(I.__all__)
    assert I.zeros is jax.nn.initializers.zeros and I.ones is jax.nn.initializers.ones
    for name in names - {"zeros", "ones"}:
        ours = inspect.signature(getattr(I, name)).parameters
        theirs = inspect.signature(getattr(jax.nn.initializers, name)).parameters
        stream = ours["stream"]
        assert stream.kind is stream.KEYWORD_ONLY and stream.default == 0, name
        # JAX < 0.6 spelled the default dtype jnp.float_ (float64, canonicalized): None since
        theirs_defaults = [(p.name, p.kind, None if p.name == "dtype" and p.default in (jnp.float32, jnp.float64)
                            else p.default) for p in theirs.values()]
        assert [(p.name, p.kind, p.default) for p in ours.values() if p.name != "stream"] == theirs_defaults, name
    init = I.normal()
    assert list(inspect.signature(init).parameters) == ["key", "shape", "dtype", "out_sharding"]
    assert isinstance(init, jax.nn.initializers.Initializer)


# ------------------------------------------------------------------ bits = the NumPy fill

@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", list(CASES))
def test_same_bits_as_numpy_fill(case, dtype):
    factory, kwargs, shape, ref = CASES[case]
    got = factory(**kwargs, stream=STREAM)(jax.random.key(KEY), shape, dtype)
    assert isinstance(got, jax.Array) and got.devices() == {jax.devices("cpu")[0]}
    assert same(got, ref(np.empty(shape, dtype), KEY, STREAM))


def test_factory_dtype_and_default_dtype():
    assert I.normal(dtype=jnp.bfloat16)(jax.random.key(0), (4, 4)).dtype == jnp.bfloat16
    assert I.normal(dtype=jnp.bfloat16)(jax.random.key(0), (4, 4), jnp.float16).dtype == jnp.float16
    assert I.he_uniform()(jax.random.key(0), (4, 4)).dtype == jnp.float32
    assert I.he_uniform()(jax.random.key(0), (4, 4), "bfloat16").dtype == jnp.bfloat16


def test_float64_needs_x64_as_in_jax():
    init = I.lecun_normal(stream=STREAM)
    with pytest.warns(UserWarning, match="float64 requested in variance_scaling is not available"):
        got = init(jax.random.key(KEY), (8, 16), jnp.float64)
    assert same(got, schemes.lecun_normal_(np.empty((8, 16), np.float32), layout="jax", seed=KEY, stream=STREAM))
    with enable_x64(True):
        for dtype in (jnp.float64, None):  # None: JAX's default float, float64 under x64
            got = init(jax.random.key(KEY), (8, 16), dtype)
            ref = schemes.lecun_normal_(np.empty((8, 16), np.float64), layout="jax", seed=KEY, stream=STREAM)
            assert same(got, ref)
        assert same(jax.jit(lambda k: init(k, (8, 16), jnp.float64))(jax.random.key(KEY)), ref)


def test_complex_orthogonal_is_unitary():
    got = I.orthogonal(stream=STREAM)(jax.random.key(KEY), (4, 6), jnp.complex64)
    ref = fastinit.unitary_(np.empty((4, 6), np.complex64), layout="jax", seed=KEY, stream=STREAM)
    assert same(got.view(jnp.float32), ref.view(np.float32))
    w = np.asarray(got)
    assert np.allclose(w @ w.conj().T, np.eye(4), atol=1e-5)
    d = I.delta_orthogonal(stream=STREAM)(jax.random.key(KEY), (3, 3, 4, 6), jnp.complex64)
    assert same(np.asarray(d).view(np.float32), centred(ref, (3, 3, 4, 6)).view(np.float32))


def test_zero_size_and_constants():
    assert I.he_normal()(jax.random.key(0), (0, 5)).shape == (0, 5)
    assert I.orthogonal()(jax.random.key(0), (3, 0)).shape == (3, 0)
    assert I.normal()(jax.random.key(0), ()).shape == ()
    assert same(I.constant(-7, stream="ignored")(jax.random.key(0), (2, 3)), np.full((2, 3), -7, np.float32))
    with pytest.raises(TypeError, match="stream"):
        I.constant(1.0, stream=1.5)


# ------------------------------------------------------------------ the key rule

def test_key_rule_threefry_both_kinds():
    for s in (0, 42, 2**32 - 1):
        assert fj.key_seed(jax.random.key(s)) == s == fj.key_seed(jax.random.PRNGKey(s))
    raw = np.array([0xDEADBEEF, 0x01234567], np.uint32)
    seed = (0xDEADBEEF << 32) | 0x01234567
    assert fj.key_seed(raw) == seed == fj.key_seed(jax.random.wrap_key_data(raw))
    init = I.he_normal(stream=STREAM)
    ref = schemes.he_normal_(np.empty((6, 10), np.float32), layout="jax", seed=seed, stream=STREAM)
    for key in (raw, jnp.asarray(raw), jax.random.wrap_key_data(raw)):  # NumPy, raw and typed keys
        assert same(init(key, (6, 10)), ref)


def test_key_rule_other_impls_hash_the_words():
    key = jax.random.key(5, impl="rbg")
    words = np.asarray(jax.random.key_data(key), np.uint32)
    assert words.shape == (4,)
    expect = int.from_bytes(hashlib.blake2b(words.astype("<u4").tobytes(), digest_size=8,
                                            person=b"fastinit.jaxkey").digest(), "little")
    assert fj.key_seed(key) == expect
    got = I.normal(1.0, stream=3)(key, (4, 4))
    assert same(got, fastinit.normal_(np.empty((4, 4), np.float32), seed=expect, stream=3))
    assert same(jax.jit(lambda k: I.normal(1.0, stream=3)(k, (4, 4)))(key), got)


def test_split_keys_independent_same_key_same_tensor():
    init = I.normal(1.0, stream=STREAM)
    k1, k2 = jax.random.split(jax.random.key(0))
    a, b = np.asarray(init(k1, (64,))), np.asarray(init(k2, (64,)))
    assert not np.any(a == b)
    assert same(init(k1, (64,)), a)
    assert same(I.normal(1.0, stream=STREAM)(k1, (64,)), a)
    assert not np.any(np.asarray(I.normal(1.0, stream="other")(k1, (64,))) == a)


# ------------------------------------------------------------------ jit, vmap, zero copy

@pytest.mark.parametrize("case", ["truncated_normal", "glorot_uniform", "orthogonal_axis0", "delta_orthogonal"])
@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey], ids=["typed", "raw"])
def test_jit_pure_callback_equals_eager(case, make_key):
    factory, kwargs, shape, _ = CASES[case]
    init = factory(**kwargs, stream=STREAM)
    key = make_key(KEY)
    jitted = jax.jit(init, static_argnums=(1, 2))
    for dtype in (jnp.float32, jnp.bfloat16):
        assert same(jitted(key, shape, dtype), init(key, shape, dtype))


def test_vmap_over_keys():
    init = I.he_uniform(stream=STREAM)
    keys = jax.random.split(jax.random.key(1), 3)
    got = jax.vmap(lambda k: init(k, (4, 5)))(keys)
    assert same(got, np.stack([np.asarray(init(k, (4, 5))) for k in keys]))


def test_eager_result_is_the_filled_buffer(monkeypatch):
    buffers = []
    real = I._aligned_empty
    monkeypatch.setattr(I, "_aligned_empty", lambda *a: buffers.append(real(*a)) or buffers[-1])
    got = I.normal(stream=STREAM)(jax.random.key(KEY), (33, 17), jnp.bfloat16)
    assert buffers[0].ctypes.data % 64 == 0
    assert got.unsafe_buffer_pointer() == buffers[0].ctypes.data  # zero copy


# ------------------------------------------------------------------ JAX's distribution parameters

class _Recorder:
    """Stands in for jax.random in jax's initializers: returns ones, so the result is JAX's scale."""

    def __init__(self):
        self.args = None

    def uniform(self, key, shape, dtype, minval=0.0, maxval=1.0, out_sharding=None):
        self.args = ("uniform", minval, maxval)
        return jnp.ones(shape, dtype)

    def normal(self, key, shape, dtype, out_sharding=None):
        self.args = ("normal",)
        return jnp.ones(shape, dtype)

    def truncated_normal(self, key, lower, upper, shape, dtype, out_sharding=None):
        self.args = ("truncated_normal", lower, upper)
        return jnp.ones(shape, dtype)


def _jax_params(monkeypatch, factory, shape):
    """(distribution, parameters) JAX's own initializer uses: uniform (low, high), normal (std,),
    truncated_normal (std, lower, upper) in std units."""
    import jax._src.nn.initializers as jax_init

    rec = _Recorder()
    with monkeypatch.context() as m:
        m.setattr(jax_init, "random", rec)
        scale = float(np.asarray(factory(jax.random.key(0), shape, jnp.float32)).flat[0])
    if rec.args[0] == "uniform":
        return "uniform", (rec.args[1] * scale, rec.args[2] * scale)
    if rec.args[0] == "normal":
        return "normal", (scale,)
    return "truncated_normal", (scale, rec.args[1], rec.args[2])


def _our_params(monkeypatch, factory, shape):
    """(distribution, parameters) fastinit's core fill receives, in the same terms."""
    from fastinit.schemes import variance

    seen = []
    for mod in (fastinit.fills, variance):
        for name in ("uniform_", "normal_", "trunc_normal_"):
            real = getattr(fastinit.fills, name)
            monkeypatch.setattr(mod, name, lambda *a, _n=name, _f=real, **k: seen.append((_n, a, k)) or _f(*a, **k))
    factory(jax.random.key(0), shape, jnp.float32)
    name, args, kw = seen[-1]
    if name == "uniform_":
        return "uniform", args[1:3]
    if name == "normal_":
        assert args[1] == 0
        return "normal", args[2:3]
    assert args[1] == 0 and kw["bounds"] == "std"
    return "truncated_normal", args[2:5]


PARAM_CASES = [
    ("uniform", {"scale": 0.5}), ("normal", {"stddev": 0.3}),
    ("truncated_normal", {"stddev": 0.3, "lower": -1.0, "upper": 1.5}),
    ("glorot_uniform", {}), ("glorot_normal", {}), ("he_uniform", {}), ("he_normal", {}),
    ("lecun_uniform", {}), ("lecun_normal", {}), ("xavier_uniform", {}), ("kaiming_normal", {}),
    ("glorot_uniform", {"in_axis": 0, "out_axis": (1, 2), "batch_axis": 3}),
    ("he_normal", {"in_axis": -1, "out_axis": -2}),
] + [("variance_scaling", {"scale": 1.7, "mode": m, "distribution": d})
     for m in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg") for d in ("uniform", "normal", "truncated_normal")]


@pytest.mark.parametrize("name,kwargs", PARAM_CASES, ids=[f"{n}-{k}" for n, k in PARAM_CASES])
def test_distribution_parameters_match_jax(monkeypatch, name, kwargs):
    if "mode" in kwargs and not jax_has_mode(kwargs["mode"]):
        pytest.skip(f"this JAX ({jax.__version__}) has no mode {kwargs['mode']!r}: nothing to compare with")
    shape = (3, 2, 8, 16)
    kind, theirs = _jax_params(monkeypatch, getattr(jax.nn.initializers, name)(**kwargs), shape)
    ours_kind, ours = _our_params(monkeypatch, getattr(I, name)(**kwargs), shape)
    assert ours_kind == kind
    np.testing.assert_allclose(ours, theirs, rtol=2e-7)  # JAX computes its scale in float32


def test_statistics_of_a_truncated_preset():
    shape = (3, 3, 64, 128)
    w = np.asarray(I.he_normal(stream=STREAM)(jax.random.key(3), shape), np.float64)
    std = np.sqrt(2.0 / (3 * 3 * 64))  # std after truncation
    assert abs(w.std() / std - 1) < 0.02
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)


# ------------------------------------------------------------------ Flax

def _flax_case(module, x, init):
    seen = []

    def recording(key, shape, dtype=jnp.float32):
        seen.append((key, tuple(shape), dtype))
        return init(key, shape, dtype)

    model = module(kernel_init=recording)
    params = model.init(jax.random.key(0), x)["params"]
    return model, params, seen


@pytest.mark.parametrize("layer", ["Dense", "Conv"])
def test_flax_kernel_init(layer):
    nn = pytest.importorskip("flax.linen")
    x = jnp.ones((1, 5, 5, 3)) if layer == "Conv" else jnp.ones((1, 12))
    module = (lambda **k: nn.Conv(8, (3, 3), **k)) if layer == "Conv" else (lambda **k: nn.Dense(6, **k))
    init = I.lecun_normal(stream="kernel")
    model, params, seen = _flax_case(module, x, init)
    (key, shape, _dtype), = seen
    assert shape == ((3, 3, 3, 8) if layer == "Conv" else (12, 6))
    ref = schemes.lecun_normal_(np.empty(shape, np.float32), layout="jax", seed=fj.key_seed(key), stream="kernel")
    assert same(params["kernel"], ref)
    jitted = jax.jit(model.init)(jax.random.key(0), x)["params"]  # the key is a tracer in there
    assert same(jitted["kernel"], ref)


# ------------------------------------------------------------------ errors

def test_factory_errors():
    with pytest.raises(ValueError, match="invalid mode for variance scaling initializer: 'fan_max'"):
        I.variance_scaling(1.0, "fan_max", "normal")
    with pytest.raises(ValueError, match="invalid distribution for variance scaling initializer: 'cauchy'"):
        I.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match="scale must be >= 0"):
        I.variance_scaling(-1.0, "fan_in", "normal")
    with pytest.raises(TypeError, match="scale must be a real number"):
        I.variance_scaling("big", "fan_in", "normal")
    with pytest.raises(ValueError, match="stddev must be >= 0"):
        I.normal(-0.1)
    with pytest.raises(ValueError, match="stddev must be finite"):
        I.truncated_normal(float("nan"))
    with pytest.raises(ValueError, match="lower must be < upper"):
        I.truncated_normal(lower=2.0, upper=-2.0)
    with pytest.raises(ValueError, match="stream must be in"):
        I.he_normal(stream=-1)
    with pytest.raises(TypeError, match="stream must be an int"):
        I.uniform(stream=1.0)
    with pytest.raises(TypeError, match="column_axis must be an int"):
        I.orthogonal(column_axis=1.0)
    with pytest.raises(ValueError, match=r"column_axis=2 is out of range for a 2-D shape"):
        I.delta_orthogonal(column_axis=2)
    assert float(np.asarray(I.normal(jnp.float32(2.0))(jax.random.key(0), (4096,))).std()) > 1.9  # 0-d arrays ok


def test_call_errors():
    key = jax.random.key(0)
    cases = [
        (I.normal(), (key, (3,), jnp.int32), TypeError, "dtype of the normal initializer must be one of"),
        (I.uniform(), (key, (3,), jnp.complex64), TypeError, "no complex counterpart"),
        (I.truncated_normal(), (key, (3,), jnp.complex64), TypeError, "no complex counterpart"),
        (I.normal(), (key, (3,), "not-a-dtype"), TypeError, "dtype must be a float dtype"),
        (I.normal(), (key, 3.0), TypeError, "shape must be an int or a sequence of ints"),
        (I.normal(), (key, "3"), TypeError, "shape must be an int or a sequence of ints"),
        (I.normal(), (key, (3, -1)), ValueError, "shape must be a sequence of non-negative ints"),
        (I.normal(), (3, (3,)), TypeError, "key must be a JAX PRNG key"),
        (I.normal(), (np.zeros(2, np.int32), (3,)), TypeError, "raw uint32 key"),
        (I.normal(), (jax.random.split(key, 2), (3,)), ValueError, "single PRNG key"),
        (I.normal(), (key, (3,), None, "sharding"), NotImplementedError, "out_sharding"),
        (I.normal(1e6), (key, (3,), jnp.float16), ValueError, "outside the range of float16"),
        (I.he_normal(), (key, (5,)), ValueError, "Must be at least 2D or specify in_axis explicitly"),
        (I.variance_scaling(1.0, "fan_in", "normal", in_axis=3), (key, (4, 4)), ValueError, "in_axis=3"),
        (I.orthogonal(), (key, (5,)), ValueError, "at least a 2D shape"),
        (I.orthogonal(column_axis=-3), (key, (4, 4)), ValueError, "column_axis=-3 is out of range"),
        (I.orthogonal(scale=1e6), (key, (4, 4), jnp.float16), ValueError, "outside the range of float16"),
        (I.delta_orthogonal(), (key, (3, 3)), ValueError, "requires a 3D, 4D or 5D shape"),
        (I.delta_orthogonal(), (key, (3, 3, 8, 4)), ValueError, "`fan_in` must be less or equal than `fan_out`"),
    ]
    for init, args, exc, match in cases:
        with pytest.raises(exc, match=match):
            init(*args)
    # a bare int is a 1-D shape, as JAX takes it (jax.random canonicalizes it); fan-based ones then refuse 1-D
    for name in ("normal", "uniform", "truncated_normal", "zeros", "ones"):
        made = name in ("zeros", "ones")   # these are initializers themselves, the others make one
        mine, theirs = (getattr(m, name) if made else getattr(m, name)() for m in (I, jax.nn.initializers))
        assert theirs(key, 3).shape == (3,)
        assert np.array_equal(np.asarray(mine(key, 3)), np.asarray(mine(key, (3,))))
    with pytest.raises(ValueError, match="Must be at least 2D"):
        I.he_normal()(key, 5)
    # under jit too: raised while tracing, before any callback
    with pytest.raises(ValueError, match="outside the range of float16"):
        jax.jit(lambda k: I.normal(1e6)(k, (3,), jnp.float16))(key)
    with pytest.raises(ValueError, match="`fan_in` must be less"):
        jax.jit(lambda k: I.delta_orthogonal()(k, (3, 8, 4)))(key)
    with pytest.raises(TypeError, match="concrete key"):
        jax.jit(lambda k: fj.key_seed(k))(key)


# ------------------------------------------------------------------ complex dtypes, shapes under 2-D

@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_complex_variance_scaling_has_jaxs_semantics(distribution):
    """E|z|^2 = scale / n as in JAX; the uniform fills the disk of radius sqrt(2 var), the
    truncated normal's modulus stops at 2 sqrt(var) / 0.9531; real and imaginary parts are
    uncorrelated.  n = 2e5 draws: the standard error of E|z|^2 is under 0.5% (checked to 2%)."""
    shape, scale = (400, 500), 2.0
    mine = I.variance_scaling(scale, "fan_in", distribution)(jax.random.key(1), shape, jnp.complex64)
    ref = jax.nn.initializers.variance_scaling(scale, "fan_in", distribution)(jax.random.key(1), shape, jnp.complex64)
    z, zr = np.asarray(mine).astype(np.complex128).ravel(), np.asarray(ref).astype(np.complex128).ravel()
    assert mine.dtype == jnp.complex64
    var = scale / shape[0]
    assert np.mean(abs(z) ** 2) == pytest.approx(var, rel=0.02)
    assert np.mean(abs(z) ** 2) == pytest.approx(np.mean(abs(zr) ** 2), rel=0.03)
    assert abs(np.corrcoef(z.real, z.imag)[0, 1]) < 0.02
    if distribution == "uniform":
        assert abs(z).max() <= np.sqrt(2 * var) * (1 + 1e-6)
        # uniform on the disk: |z|^2 / (2 var) is U(0, 1)
        assert stats.kstest(abs(z) ** 2 / (2 * var), "uniform").pvalue > 1e-4
    if distribution == "truncated_normal":
        top = 2 * np.sqrt(var) / 0.95311164380491208
        assert abs(z).max() <= top * (1 + 1e-6) and abs(zr).max() <= top * (1 + 1e-6)
    # the draws keep the contract: the float view of the same (seed, stream) fill
    again = I.variance_scaling(scale, "fan_in", distribution)(jax.random.key(1), shape, jnp.complex64)
    assert np.array_equal(np.asarray(mine), np.asarray(again))


def test_complex_normal_is_jaxs():
    z = np.asarray(I.normal(0.5)(jax.random.key(0), (300, 300), jnp.complex64)).ravel()
    assert np.std(z.real) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert np.std(z.imag) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    ref = fastinit.normal_(np.empty((300, 300, 2), np.float32), 0.0, 0.5 / np.sqrt(2), seed=0, stream=0)
    assert np.array_equal(z.view(np.float32), ref.ravel())  # element i: slots 2i, 2i+1 of the float fill


@pytest.mark.parametrize("shape, in_axis, out_axis", [((), [], []), ((6,), [0], []), ((6,), [], [0]),
                                                       ((5, 6), [], [])])
def test_shapes_under_2d_with_explicit_axes(shape, in_axis, out_axis):
    from jax._src.nn.initializers import _compute_fans

    fans = fastinit.compute_fans(shape, layout="jax", in_axis=in_axis, out_axis=out_axis)
    try:
        theirs = _compute_fans(shape, in_axis, out_axis)
    except ValueError as exc:  # JAX < 0.6 refuses shapes under 2-D even with explicit axes
        pytest.skip(f"this JAX ({jax.__version__}) has no fans for {shape}: {exc}")
    assert fans == tuple(int(f) for f in theirs)
    init = I.variance_scaling(1.0, "fan_in", "normal", in_axis=in_axis, out_axis=out_axis)
    w = init(jax.random.key(0), shape)
    assert w.shape == shape
    with pytest.raises(ValueError, match="Can't compute input and output sizes of a 1-dimensional"):
        I.variance_scaling(1.0, "fan_avg", "truncated_normal")(jax.random.key(0), (5,))


def test_nn_is_jax_nn_with_fastinit_initializers():
    assert fj.nn.initializers is I
    assert fj.nn.relu is jax.nn.relu and fj.nn.dot_product_attention is jax.nn.dot_product_attention
