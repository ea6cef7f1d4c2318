"""Numba twins of the C fill kernels (csrc/fimath.h, transforms.h, dense.h, masked.h).

Every function here mirrors its C counterpart operation for operation: the same
IEEE operations in the same order, constants rounded decimal -> float64 -> float32
exactly as the C ``F()`` macro does, no fastmath (LLVM then never contracts to FMA).
That is what makes the two backends give the same bits.  Change both or neither.

Kernels are compiled lazily with ``cache=True``; the C backend is the default, so
importing fastinit never waits for Numba.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

u32 = np.uint32
u64 = np.uint64
i32 = np.int32
i64 = np.int64
f32 = np.float32
f64 = np.float64

# Philox4x32 constants (Salmon et al. 2011; Random123 philox.h)
M0 = u64(0xD2511F53)
M1 = u64(0xCD9E8D57)
W0 = u64(0x9E3779B9)  # golden ratio
W1 = u64(0xBB67AE85)  # sqrt(3) - 1

UNIFORM, NORMAL, TRUNCNORMAL = 0, 1, 2
TRUNCMIX = 3  # the float32 family's truncated normal as a mixture: internal (csrc/dispatch.h: FI_TRUNCMIX)
F32, F16, BF16 = 0, 1, 2
# the float32 family's truncated normal is the mixture (docs/streams.md) when its mass p[6] is at
# least this, compared in float32 (csrc/dispatch.h: FI_TRUNC_MIX_MASS 0.95f)
TRUNC_MIX_MASS = f32(0.95)
G32, G64 = 64, 32
PI2_22 = f32(float.fromhex("0x1.921fb6p-22"))  # float32(pi/2) * 2^-22, exact
PI2_51 = float.fromhex("0x1.921fb54442d18p-51")  # float64(pi/2) * 2^-51, exact
TWO_M24 = f32(2.0**-24)
TWO_M53 = 2.0**-53

# The float32 inverse normal CDF's polynomials, highest degree first: the tables of csrc/fitables.h
# (fitted by tools/fit_ndtri32.py; exact float32 values)
NDTRI32_CENTRAL = np.array([
    -2.4900867146016026e-08, 6.576180311412827e-08, 1.3189650189815438e-06, -9.794538527785335e-06,
    -1.4040183486940805e-05, 0.0006175730377435684, -0.003543286584317684, -0.01181543618440628,
    0.6976040601730347, 4.246626853942871])
NDTRI32_TAIL_MID = np.array([
    0.00036476762033998966, -0.0004911251598969102, -0.0009130212129093707, 0.0037067439407110214,
    -0.007130827289074659, 0.010696284472942352, -0.01499354001134634, 0.019937699660658836,
    2.838945150375366, 8.367392539978027])
NDTRI32_TAIL_FAR = np.array([
    -1.3048008895566454e-08, 6.621805681561455e-08, -1.8309025051621575e-07, 1.239201083080843e-06,
    -7.388951416942291e-06, 2.8334190574241802e-05, -1.4946657756809145e-05, -0.001453221426345408,
    2.853829860687256, 18.358539581298828])

# logtf's table and log1p polynomial (csrc/fitables.h: LOGT_*), exact float32 values
LOGT_INVC = np.array([
    1.3992414474487305, 1.3406081199645996, 1.2866921424865723, 1.2369459867477417, 1.1909037828445435,
    1.1481667757034302, 1.108391284942627, 1.071279764175415, 1.0365731716156006, 1.0, 0.9485646486282349,
    0.8954553008079529, 0.847979724407196, 0.8052862882614136, 0.7666870355606079, 0.7316197156906128],
    np.float32)
LOGT_LOGC = np.array([
    -0.3359302580356598, -0.293123334646225, -0.2520746886730194, -0.21264542639255524, -0.17471249401569366,
    -0.13816656172275543, -0.10290966928005219, -0.06885397434234619, -0.035920243710279465, 0.0,
    0.0528053343296051, 0.11042297631502151, 0.1648985594511032, 0.21655742824077606, 0.2656765878200531,
    0.3124944269657135], np.float32)
LOGT_A = np.array([-0.4999999701976776, 0.3334691822528839, -0.2501509487628937])

# Wichura's AS241 (PPND16) rationals for float64, highest degree first: the tables of csrc/fitables.h
AS241_A = np.array([2509.0809287301226727, 33430.575583588128105, 67265.770927008700853, 45921.953931549871457,
                    13731.693765509461125, 1971.5909503065514427, 133.14166789178437745, 3.3871328727963666080])
AS241_B = np.array([5226.4952788528545610, 28729.085735721942674, 39307.895800092710610, 21213.794301586595867,
                    5394.1960214247511077, 687.18700749205790830, 42.313330701600911252])
AS241_C_MID = np.array([7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
                        1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
                        4.63033784615654529590e+0, 1.42343711074968357734e+0])
AS241_C_FAR = np.array([2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
                        2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
                        5.46378491116411436990e+0, 6.65790464350110377720e+0])
AS241_D_MID = np.array([1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
                        1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
                        2.05319162663775882187e+0])
AS241_D_FAR = np.array([2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
                        7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
                        5.99832206555887937690e-1])


def _bitcast(src, dst, width):
    @intrinsic
    def cast(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(width) if dst in (types.uint32, types.uint64)
                                   else (ir.FloatType() if width == 32 else ir.DoubleType()))

        return dst(src), codegen

    return cast


f2u = _bitcast(types.float32, types.uint32, 32)
u2f = _bitcast(types.uint32, types.float32, 32)
d2u = _bitcast(types.float64, types.uint64, 64)
u2d = _bitcast(types.uint64, types.float64, 64)

@intrinsic
def fmaf(typingctx, a, b, c):
    """float32 a * b + c rounded once (LLVM's llvm.fma: the FMA instruction, or libm's fmaf),
    the C kernels' FMAF."""
    if not (a == b == c == types.float32):
        return None

    def codegen(context, builder, signature, args):
        flt = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [flt], ir.FunctionType(flt, [flt, flt, flt]))
        return builder.call(fn, args)

    return types.float32(a, b, c), codegen


# error_model="numpy": no ZeroDivisionError branch in divisions, so loops with them vectorize
jit = njit(inline="always", cache=True, nogil=True, error_model="numpy")


# ---- float32 -------------------------------------------------------------------

@jit
def logt_index(x):
    """logtf's table index of x (csrc/fimath.h: logtf)."""
    return u32((u32(f2u(x) - u32(0x3F330000)) >> u32(19)) & u32(15))


@jit
def logt_rest(x, invc, logc):
    """logtf(x) given its table entries invc = LOGT_INVC[i], logc = LOGT_LOGC[i], i = logt_index(x):
    the fills look them up 16 lanes at a time (logt_lookup), the scalar samplers one by one."""
    ix = f2u(x)
    tmp = u32(ix - u32(0x3F330000))
    k = i32(tmp) >> i32(23)
    z = u2f(u32(ix - (tmp & u32(0xFF800000))))
    r = fmaf(z, invc, f32(-1.0))
    fk = f32(k)
    hi = fmaf(fk, f32(0.693359375), logc)
    lo = fmaf(fk, -f32(2.12194440e-4), r)
    p = fmaf(f32(LOGT_A[2]), r, f32(LOGT_A[1]))
    p = fmaf(p, r, f32(LOGT_A[0]))
    return fmaf(p, r * r, lo) + hi


@jit
def logtf(x):
    """Natural log of normal float32 x > 0 by a 16-entry table (csrc/fimath.h: logtf, whose
    second argument e is 0 here: the C side folds a constant scaling 2^e into the exponent)."""
    i = i64(logt_index(x))
    return logt_rest(x, LOGT_INVC[i], LOGT_LOGC[i])


_V16F, _V16I = ir.VectorType(ir.FloatType(), 16), ir.VectorType(ir.IntType(32), 16)


def _logt_lookup(permute=None):
    """``logt_lookup(idx, at, invc, logc)``: invc[at + L] <- LOGT_INVC[idx[at + L]] and logc[at + L] <-
    LOGT_LOGC[idx[at + L]] for the 16 lanes L (idx < 16).  Written as vector IR because a loop's
    table loads become two gathers (and slow the whole loop): here they are one 16-lane permute
    each (vpermps, as csrc/fimath.h: VPERMF) where the CPU has AVX-512 (permute None: as the
    target has; False: lane by lane, as on other CPUs)."""

    @intrinsic
    def logt_lookup(typingctx, idx, at, invc, logc):
        if not (_is_u32_vector(idx) and isinstance(at, types.Integer) and _is_f32_vector(invc)
                and _is_f32_vector(logc)):
            return None

        def codegen(context, builder, signature, args):
            ia, _, va, la = (context.make_array(t)(context, builder, v) if isinstance(t, types.Array) else None
                             for t, v in zip(signature.args, args))
            off = context.cast(builder, args[1], signature.args[1], types.int64)

            def vec(a, ty):
                return builder.bitcast(builder.gep(a.data, [off]), ty.as_pointer())

            iv = builder.load(vec(ia, _V16I), align=4)
            features = getattr(context.codegen(), "_tm_features", "") or ""
            vperm = "+avx512f" in features.split(",") if permute is None else permute
            if vperm:
                fn = builder.module.declare_intrinsic("llvm.x86.avx512.permvar.sf.512", (),
                                                      ir.FunctionType(_V16F, [_V16F, _V16I]))
            for table, a in ((LOGT_INVC, va), (LOGT_LOGC, la)):
                tv = ir.Constant(_V16F, [float(x) for x in table])
                if vperm:
                    v = builder.call(fn, [tv, iv])
                else:
                    v = ir.Constant(_V16F, ir.Undefined)
                    for L in range(16):
                        lane = ir.Constant(_I32, L)
                        v = builder.insert_element(v, builder.extract_element(tv, builder.extract_element(iv, lane)),
                                                   lane)
                builder.store(v, vec(a, _V16F), align=4)
            return context.get_dummy_value()

        return types.void(idx, at, invc, logc), codegen

    return logt_lookup


logt_lookup = _logt_lookup()


@jit
def sinpf(x):
    z = x * x
    y = fmaf(-f32(1.9515295891e-4), z, f32(8.3321608736e-3))
    y = fmaf(y, z, -f32(1.6666654611e-1))
    return fmaf(y * z, x, x)


@jit
def cospf(x):
    z = x * x
    y = fmaf(f32(2.443315711809948e-5), z, -f32(1.388731625493765e-3))
    y = fmaf(y, z, f32(4.166664568298827e-2))
    y = fmaf(y, z, f32(-0.5))
    return fmaf(y, z, f32(1.0))


@jit
def ndtri_arg(p):
    """ndtrif's log argument 4 p (1 - p) = 1 - 4 q^2."""
    p4 = p * f32(4.0)
    return fmaf(-p4, p, p4)


@jit
def ndtrif_central(w):
    v = w - f32(2.5)
    r = fmaf(f32(NDTRI32_CENTRAL[0]), v, f32(NDTRI32_CENTRAL[1]))
    for i in range(2, 10):
        r = fmaf(r, v, f32(NDTRI32_CENTRAL[i]))
    return r


@jit
def ndtrif_tail(w):
    mid = w <= f32(16.0)
    s = np.sqrt(w) - (f32(3.125) if mid else f32(6.625))
    rt = fmaf(f32(NDTRI32_TAIL_MID[0]) if mid else f32(NDTRI32_TAIL_FAR[0]), s,
              f32(NDTRI32_TAIL_MID[1]) if mid else f32(NDTRI32_TAIL_FAR[1]))
    for i in range(2, 10):
        rt = fmaf(rt, s, f32(NDTRI32_TAIL_MID[i]) if mid else f32(NDTRI32_TAIL_FAR[i]))
    return rt


@jit
def ndtrif(q, p):
    """Phi^-1(1/2 + q) = q R(w), w = -log(4 p (1 - p)), p = 1/2 - |q| the smaller tail
    probability (csrc/fimath.h: ndtrif): R = ndtrif_central(w) for w < 5, ndtrif_tail(w) beyond.
    Both are computed, then selected (selects vectorize); the fills (group32) instead run the
    tail only for groups with a lane in it, as C does per vector."""
    w = -logtf(ndtri_arg(p))
    r = ndtrif_central(w)
    rt = ndtrif_tail(w)
    return q * (rt if w >= f32(5.0) else r)


@jit
def to_bf16(x):
    u = f2u(x)
    rounded = u32((u + u32(0x7FFF) + ((u >> u32(16)) & u32(1))) >> u32(16))
    nan = u32((u >> u32(16)) | u32(0x40))
    return np.uint16(nan if (u & u32(0x7FFFFFFF)) > u32(0x7F800000) else rounded)


@jit
def to_f16(x):
    u = f2u(x)
    sign = u32(u & u32(0x80000000))
    a = u32(u ^ sign)
    infnan = u32(0x7E00) if a > u32(0x7F800000) else u32(0x7C00)
    sub = u32(f2u(u2f(a) + f32(0.5)) - u32(0x3F000000))
    norm = u32(u32(a + u32(0xC8000FFF) + ((a >> u32(13)) & u32(1))) >> u32(13))
    o = infnan if a >= u32(0x47800000) else (sub if a < u32(0x38800000) else norm)
    return np.uint16((sign >> u32(16)) | (o & u32(0xFFFF)))


# ---- float64 -------------------------------------------------------------------

@jit
def log(x):
    ix = d2u(x)
    k = i64(ix >> u64(52)) - i64(1023)
    m = u2d(u64((ix & u64(0x000FFFFFFFFFFFFF)) | u64(0x3FF0000000000000)))
    big = m > 1.41421356237309504880
    m = m * 0.5 if big else m
    k = k + 1 if big else k
    f = m - 1.0
    hfsq = (0.5 * f) * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01))
    t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
                                              + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)))
    R = t2 + t1
    dk = f64(k)
    return dk * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + dk * 1.90821492927058770002e-10)) - f)


@jit
def sinp(x):
    z = x * x
    w = z * z
    r = ((8.33333333332248946124e-03 + z * (-1.98412698298579493134e-04 + z * 2.75573137070700676789e-06))
         + (z * w) * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10))
    v = z * x
    return x + v * (-1.66666666666666324348e-01 + z * r)


@jit
def cosp(x):
    z = x * x
    w = z * z
    r = (z * (4.16666666666666019037e-02 + z * (-1.38888888888741095749e-03 + z * 2.48015872894767294178e-05))
         + (w * w) * (-2.75573143513906633035e-07 + z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11)))
    hz = 0.5 * z
    one_hz = 1.0 - hz
    return one_hz + (((1.0 - one_hz) - hz) + z * r)


@jit
def ndtri_central(q):
    """Phi^-1(1/2 + q) for |q| <= 0.425 (AS241 central rational; csrc/fimath.h)."""
    r = 0.180625 - q * q
    a = AS241_A[0] * r + AS241_A[1]
    for i in range(2, 8):
        a = a * r + AS241_A[i]
    b = AS241_B[0] * r + AS241_B[1]
    for i in range(2, 7):
        b = b * r + AS241_B[i]
    b = b * r + 1.0
    return (q * a) / b


@jit
def ndtri_tail(p):
    """-Phi^-1(p) for a tail probability 0 < p < 0.075 (AS241 tail rationals)."""
    t = np.sqrt(-log(p))
    mid = t <= 5.0
    s = (t - 1.6) if mid else (t - 5.0)
    c = AS241_C_MID[0] if mid else AS241_C_FAR[0]
    for i in range(1, 8):
        c = c * s + (AS241_C_MID[i] if mid else AS241_C_FAR[i])
    d = AS241_D_MID[0] if mid else AS241_D_FAR[0]
    for i in range(1, 7):
        d = d * s + (AS241_D_MID[i] if mid else AS241_D_FAR[i])
    d = d * s + 1.0
    return c / d


@jit
def philox(c0, c1, c2, c3, k0, k1, rounds):
    """Philox4x32-R of one counter (c0..c3 uint32) under key (k0, k1)."""
    for _ in range(rounds):
        p0 = M0 * u64(c0)
        p1 = M1 * u64(c2)
        n0 = u32(u32(p1 >> u64(32)) ^ c1 ^ k0)
        n2 = u32(u32(p0 >> u64(32)) ^ c3 ^ k1)
        c1 = u32(p1 & u64(0xFFFFFFFF))
        c3 = u32(p0 & u64(0xFFFFFFFF))
        c0 = n0
        c2 = n2
        k0 = u32((u64(k0) + W0) & u64(0xFFFFFFFF))
        k1 = u32((u64(k1) + W1) & u64(0xFFFFFFFF))
    return c0, c1, c2, c3


_I32, _I64 = ir.IntType(32), ir.IntType(64)
_V8 = ir.VectorType(_I64, 8)


def _v8(x):
    return ir.Constant(_V8, [int(x)] * 8)


def _prefer_wide_vectors(function):
    """Mark the kernel that inlines Philox with ``"prefer-vector-width"="512"``.

    LLVM's X86 tuning for recent Intel cores vectorizes loops 256 bits wide even where
    AVX-512 exists; the C kernels use the full width, and with 256 bits Numba's transforms run
    at about half their speed.  llvmlite only accepts a fixed list of attribute names, so the
    string attribute goes in through the underlying set; without AVX-512 it changes nothing."""
    if isinstance(function.attributes, set):
        set.add(function.attributes, '"prefer-vector-width"="512"')


def _philox_ir(builder, kwa, chains, out):
    """Philox4x32-10 rounds in LLVM vector IR on the chains [(c0, c1), ...] (each <8 x i64>: two
    counters' words per element, lane 2i low, 2i+1 high) under the key and stream kwa[0..3];
    chain h's words j go to out[64*h + 16*j ..] (an i32 pointer)."""
    k = [builder.zext(builder.load(builder.gep(kwa, [ir.Constant(_I64, i)])), _I64) for i in range(4)]
    lo, s32 = _v8(0xFFFFFFFF), _v8(32)

    def splat(x):
        v = builder.insert_element(ir.Constant(_V8, ir.Undefined), x, ir.Constant(_I32, 0))
        zeros = ir.Constant(ir.VectorType(_I32, 8), [0] * 8)
        return builder.shuffle_vector(v, ir.Constant(_V8, ir.Undefined), zeros)

    def both(x):  # a 32-bit scalar in both halves of every element
        return splat(builder.or_(x, builder.shl(x, ir.Constant(_I64, 32))))

    v16 = ir.VectorType(_I32, 16)
    hi_words = ir.Constant(v16, [2 * (i // 2) + 1 + 16 * (i % 2) for i in range(16)])  # high words of pe, po
    lo_words = ir.Constant(v16, [2 * (i // 2) + 16 * (i % 2) for i in range(16)])  # low words of pe, po

    def mulhilo(x, m):  # (hi, lo) words of the products of both lanes with the constant m
        pe = builder.bitcast(builder.mul(builder.and_(x, lo), m), v16)
        po = builder.bitcast(builder.mul(builder.lshr(x, s32), m), v16)
        # lane 2i's word from pe, lane 2i+1's from po: two-source shuffles (as csrc's masked
        # in-lane swaps), not shifts and masks, which LLVM turns partly into 64-bit multiplies
        return (builder.bitcast(builder.shuffle_vector(pe, po, hi_words), _V8),
                builder.bitcast(builder.shuffle_vector(pe, po, lo_words), _V8))

    state = [[c0, c1, both(k[2]), both(k[3])] for c0, c1 in chains]
    k0, k1 = k[0], k[1]
    mask = ir.Constant(_I64, 0xFFFFFFFF)
    for _ in range(10):
        kk0, kk1 = both(k0), both(k1)
        for w in state:
            h0, l0 = mulhilo(w[0], _v8(M0))
            h1, l1 = mulhilo(w[2], _v8(M1))
            w[:] = builder.xor(builder.xor(h1, w[1]), kk0), l1, builder.xor(builder.xor(h0, w[3]), kk1), l0
        k0 = builder.and_(builder.add(k0, ir.Constant(_I64, int(W0))), mask)
        k1 = builder.and_(builder.add(k1, ir.Constant(_I64, int(W1))), mask)
    base = builder.bitcast(out, _V8.as_pointer())
    for h, w in enumerate(state):
        for j, v in enumerate(w):
            builder.store(v, builder.gep(base, [ir.Constant(_I64, 4 * h + j)]), align=4)


def _is_u32_vector(a):
    return isinstance(a, types.Array) and a.dtype == types.uint32 and a.ndim == 1 and a.layout == "C"


def _is_f32_vector(a):
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.ndim == 1 and a.layout == "C"


def _philox_blocks(groups):
    """An intrinsic ``philox(kw, b0, c)``: Philox4x32-10 of blocks b0 .. b0 + 16 groups - 1 of
    the stream kw = (key0, key1, stream0, stream1); c[64*h + 16*j + L] <- word j of block
    b0 + 16h + L (c: a contiguous uint32 array of at least 64 groups words).

    Written as LLVM vector IR, not as a Numba loop: LLVM's loop vectorizer turns the 32x32->64
    products of a plain loop into a mix of 64-bit multiplies and separate mulhi sequences (twice
    the multiplies) and keeps the state in memory between rounds.  Here two lanes share one
    64-bit element (lane 2i low, 2i+1 high), so each product is two ``pmuludq``-shaped
    multiplies of the even and odd lanes -- the scheme of csrc/philox_x86.h -- and the
    state stays in registers; two groups are two independent chains, whose multiplies overlap
    (as csrc/dense.h: two groups per step).  Generic IR: LLVM lowers <8 x i64> to whatever
    the CPU has."""

    @intrinsic
    def philox(typingctx, kw, b0, c):
        if not (isinstance(kw, types.Array) and kw.dtype == types.uint32 and _is_u32_vector(c)
                and b0 == types.uint64):
            return None

        def codegen(context, builder, signature, args):
            _prefer_wide_vectors(builder.function)
            kwa = context.make_array(signature.args[0])(context, builder, args[0])
            ca = context.make_array(signature.args[2])(context, builder, args[2])
            lo, hi, s32 = _v8(0xFFFFFFFF), _v8(0xFFFFFFFF00000000), _v8(32)
            b = builder.insert_element(ir.Constant(_V8, ir.Undefined), args[1], ir.Constant(_I32, 0))
            b = builder.shuffle_vector(b, ir.Constant(_V8, ir.Undefined), ir.Constant(ir.VectorType(_I32, 8), [0] * 8))
            chains = []
            for h in range(groups):
                even = builder.add(b, ir.Constant(_V8, [16 * h + 2 * i for i in range(8)]))
                odd = builder.add(even, _v8(1))
                chains.append((builder.or_(builder.and_(even, lo), builder.shl(odd, s32)),  # word 0: low 32 bits
                               builder.or_(builder.lshr(even, s32), builder.and_(odd, hi))))  # word 1: high
            _philox_ir(builder, kwa.data, chains, ca.data)
            return context.get_dummy_value()

        return types.void(kw, b0, c), codegen

    return philox


philox32 = _philox_blocks(2)  # two groups: the fills and the sparse patterns, two independent chains


@intrinsic
def philox_lanes(typingctx, kw, lo, hi, c):
    """``philox_lanes(kw, lo, hi, c)``: Philox4x32-10 of the 32 arbitrary blocks (lo[L], hi[L])
    into c as philox32 lays out blocks b0 + L (csrc: PHILOX_LANES).  Sixteen consecutive
    uint32 in memory are exactly the <8 x i64> lane pairs of _philox_ir."""
    if not (isinstance(kw, types.Array) and kw.dtype == types.uint32 and _is_u32_vector(lo)
            and _is_u32_vector(hi) and _is_u32_vector(c)):
        return None

    def codegen(context, builder, signature, args):
        _prefer_wide_vectors(builder.function)
        kwa, la, ha, ca = (context.make_array(t)(context, builder, v) for t, v in zip(signature.args, args))
        words = [builder.bitcast(a.data, _V8.as_pointer()) for a in (la, ha)]
        chains = [tuple(builder.load(builder.gep(p, [ir.Constant(_I64, h)]), align=4) for p in words)
                  for h in range(2)]
        _philox_ir(builder, kwa.data, chains, ca.data)
        return context.get_dummy_value()

    return types.void(kw, lo, hi, c), codegen


@intrinsic
def mix_select(typingctx, o, at, a, b, lo, hi):
    """``mix_select(o, at, a, b, lo, hi)``: the truncated normal mixture's test and clamp of the 64
    values o[at:at+64] (mix_kept, 16 lanes at a time): each clamped to [lo, hi] in place; returns
    bit k set where value k lies outside [a, b] or is NaN (rejected).  Vector IR because a
    loop's per-lane flags and their gathering into bits cost a third of the normal's time; here
    they are a compare and a mask move per 16 lanes (csrc/dense.h: VANY).  Where [lo, hi] is
    [a, b] (float32 outputs) the clamp changes no kept value and is skipped.  A uint16 o (run32
    compiled for a 16-bit format, whose groups never go straight into out) does nothing."""
    if not ((_is_f32_vector(o) or (isinstance(o, types.Array) and o.dtype == types.uint16))
            and isinstance(at, types.Integer) and a == b == lo == hi == types.float32):
        return None

    def codegen(context, builder, signature, args):
        if not _is_f32_vector(signature.args[0]):
            return ir.Constant(_I64, 0)
        oa = context.make_array(signature.args[0])(context, builder, args[0])
        off = context.cast(builder, args[1], signature.args[1], types.int64)
        base = builder.bitcast(builder.gep(oa.data, [off]), _V16F.as_pointer())
        zeros = ir.Constant(ir.VectorType(_I32, 16), [0] * 16)
        sa, sb, slo, shi = (builder.shuffle_vector(builder.insert_element(ir.Constant(_V16F, ir.Undefined), x,
                                                                          ir.Constant(_I32, 0)),
                                                   ir.Constant(_V16F, ir.Undefined), zeros) for x in args[2:])
        ptrs = [builder.gep(base, [ir.Constant(_I64, i)]) for i in range(4)]
        xs = [builder.load(ptr, align=4) for ptr in ptrs]
        kept = [builder.and_(builder.fcmp_ordered(">=", x, sa), builder.fcmp_ordered("<=", x, sb)) for x in xs]
        a, b, lo, hi = args[2:]
        same = builder.and_(builder.fcmp_ordered("==", lo, a), builder.fcmp_ordered("==", hi, b))
        with builder.if_then(builder.not_(same)):
            for x, ptr in zip(xs, ptrs):
                v = builder.select(builder.fcmp_ordered("<", x, slo), slo, x)  # mix_kept's clamp
                builder.store(builder.select(builder.fcmp_ordered(">", v, shi), shi, v), ptr, align=4)
        # the four 16-lane masks as one <64 x i1> (mask-register unpacks), inverted, as bits
        halves = [builder.shuffle_vector(kept[2 * h], kept[2 * h + 1], ir.Constant(ir.VectorType(_I32, 32), list(range(32))))
                  for h in range(2)]
        every = builder.shuffle_vector(halves[0], halves[1], ir.Constant(ir.VectorType(_I32, 64), list(range(64))))
        return builder.bitcast(builder.not_(every), _I64)

    return types.uint64(o, at, a, b, lo, hi), codegen


@intrinsic
def ctz(typingctx, x):
    """Trailing zeros of a non-zero uint32 or uint64, of its type (LLVM's cttz: TZCNT/BSF;
    C's ``__builtin_ctz``/``__builtin_ctzll``)."""
    if x not in (types.uint32, types.uint64):
        return None

    def codegen(context, builder, signature, args):
        t = args[0].type
        fn = builder.module.declare_intrinsic("llvm.cttz", [t], ir.FunctionType(t, [t, ir.IntType(1)]))
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return x(x), codegen


# ---- the per-lane transforms (csrc/transforms.h, same names: uniform32, boxmuller32, ...) ----
# shared by the dense groups and the masked fill's picks, so that both give the same bits

@jit
def uniform32(w, scale, shift, lo, hi):
    u = f32(i32(w >> u32(8))) * TWO_M24
    v = u * scale + shift
    v = lo if v < lo else v
    return hi if v > hi else v


@jit
def bm_u1(we):
    """Box-Muller's radius uniform in (0, 1] of the word we."""
    return f32(i32(u32((we >> u32(8)) + u32(1)))) * TWO_M24


@jit
def boxmuller32_t(we, wo, sd, mean, invc, logc):
    """boxmuller32 given logtf's table entries (logt_rest) for its log of bm_u1(we)."""
    r = np.sqrt(f32(-2.0) * logt_rest(bm_u1(we), invc, logc))
    x = u32(wo >> u32(8))
    q = u32((x + u32(0x200000)) >> u32(22))
    phi = f32(i32(i32(x) - i32(q << u32(22)))) * PI2_22
    sn = sinpf(phi)
    cs = cospf(phi)
    # the quadrant tests in uint32 (Numba widens uint32 arithmetic to 64 bits: twice the vector ops)
    swap = u32(q & u32(1)) != u32(0)
    co = sn if swap else cs
    si = cs if swap else sn
    co = -co if u32(u32(q + u32(1)) & u32(2)) != u32(0) else co
    si = -si if u32(q & u32(2)) != u32(0) else si
    rs = r * sd
    return fmaf(rs, co, mean), fmaf(rs, si, mean)


@jit
def boxmuller32(we, wo, sd, mean):
    """(cos value, sin value) of the word pair (we, wo), each r sd * trig + mean."""
    i = i64(logt_index(bm_u1(we)))
    return boxmuller32_t(we, wo, sd, mean, LOGT_INVC[i], LOGT_LOGC[i])


@jit
def trunc_qp(w, phia, phicb, mass, qa):
    """truncnormal32's (q, the smaller tail probability) of the word w: ndtrif's arguments."""
    k2 = i32(i32((w >> u32(9)) << u32(1)) + i32(1))
    k = f32(k2)
    k1 = f32(i32(i32(0x1000000) - k2))
    m = mass * TWO_M24  # u m = k2 (m 2^-24): exact scalings (csrc/transforms.h)
    q = fmaf(k, m, qa)
    plo = fmaf(k, m, phia)
    phi_ = fmaf(k1, m, phicb)
    return q, (plo if plo <= phi_ else phi_)


@jit
def trunc_value(z, sd, mean, lo, hi):
    """z sd + mean clamped to [lo, hi]."""
    v = fmaf(z, sd, mean)
    v = lo if v < lo else v
    return hi if v > hi else v


@jit
def truncnormal32(w, p):
    q, pp = trunc_qp(w, p[4], p[5], p[6], p[7])
    return trunc_value(ndtrif(q, pp), p[0], p[1], p[2], p[3])


@jit
def is_mixture(p):
    """Whether the float32 family's truncated normal of parameters p (trunc_normal_params) is
    the mixture of docs/streams.md: its mass p[6] at least TRUNC_MIX_MASS.  csrc/dispatch.h: fi_is_mixture."""
    return p[6] >= TRUNC_MIX_MASS


@jit
def mix_kept(x, a, b, lo, hi):
    """The truncated normal mixture's first draw (docs/streams.md): (x clamped to [lo, hi], whether
    x is rejected: outside [a, b] = [p[8], p[9]], or NaN).  csrc/dense.h: group32's FI_TRUNCMIX."""
    v = lo if x < lo else x
    return (hi if v > hi else v), not ((x >= a) & (x <= b))


@jit
def join53(lo, hi, shift):
    return ((u64(hi) << u64(32)) | u64(lo)) >> u64(shift)


@jit
def uniform64(x, scale, shift, lo, hi):
    u = f64(i64(x)) * TWO_M53
    v = u * scale + shift
    v = lo if v < lo else v
    return hi if v > hi else v


@jit
def boxmuller64(a, x, sd, mean):
    """(cos value, sin value) of the 53-bit pair (a, x), each * sd + mean."""
    u1 = f64(i64(a + u64(1))) * TWO_M53
    r = np.sqrt(-2.0 * log(u1))
    q = (x + u64(0x4000000000000)) >> u64(51)
    phi = f64(i64(x) - i64(q << u64(51))) * PI2_51
    sn = sinp(phi)
    cs = cosp(phi)
    swap = (q & u64(1)) != u64(0)
    co = sn if swap else cs
    si = cs if swap else sn
    co = -co if ((q + u64(1)) & u64(2)) != u64(0) else co
    si = -si if (q & u64(2)) != u64(0) else si
    return (r * co) * sd + mean, (r * si) * sd + mean


@jit
def truncnormal64(x, p):
    sd, mean, lo, hi = p[0], p[1], p[2], p[3]
    phia, phicb, mass, qa = p[4], p[5], p[6], p[7]
    k2 = i64(x << u64(1)) + i64(1)
    u = f64(k2) * TWO_M53
    v1 = f64(i64(0x20000000000000) - k2) * TWO_M53
    q = qa + u * mass
    plo = phia + u * mass
    phi_ = phicb + v1 * mass
    lower = plo <= phi_
    tail = ndtri_tail(plo if lower else phi_)
    central = ndtri_central(q)
    tail = -tail if lower else tail
    z = central if (q <= 0.425) & (q >= -0.425) else tail
    v = z * sd + mean
    v = lo if v < lo else v
    return hi if v > hi else v


# ---- one group ----------------------------------------------------------------

@jit
def scratch32():
    """group32's work arrays: table indices, the two looked-up table columns, two per-lane values."""
    return (np.empty(64, np.uint32), np.empty(64, np.float32), np.empty(64, np.float32),
            np.empty(64, np.float32), np.empty(64, np.float32))


@jit
def group32(dist, p, c, cb, o, at, s):
    """The 64 float32 values of the group whose Philox words are c[cb:cb+64] into o[at:at+64]
    (layout: csrc/dense.h); s: scratch32() arrays.  The transforms run in passes so that logtf's
    table is read 16 lanes at once (logt_lookup) and every loop vectorizes; the truncated
    normal's tail polynomial runs only for groups with a lane in the tail (as C, per vector).
    Returns TRUNCMIX's rejected values as bits (bit k: value k), 0 for the others."""
    si, sinv, slog, sx, sq = s
    if dist == UNIFORM:
        scale, shift, lo, hi = p[0], p[1], p[2], p[3]
        for k in range(64):  # word j of block L is c[cb + 16 * j + L] and makes value 16 * j + L
            o[at + k] = uniform32(c[cb + k], scale, shift, lo, hi)
    elif dist == NORMAL or dist == TRUNCMIX:
        sd, mean, lo, hi, a, b = p[0], p[1], p[2], p[3], p[8], p[9]  # (the last four: TRUNCMIX's)
        for k in range(64):  # the words 0 and 2 of each block are the radii's (see below); one
            si[k] = logt_index(bm_u1(c[cb + k]))  # loop of 64, not 2 x 16: it vectorizes
        logt_lookup(si, 0, sinv, slog)
        logt_lookup(si, 32, sinv, slog)
        for pair in range(2):
            for L in range(16):
                co, sn = boxmuller32_t(c[cb + 32 * pair + L], c[cb + 32 * pair + 16 + L], sd, mean,
                                       sinv[32 * pair + L], slog[32 * pair + L])
                o[at + 32 * pair + L] = co
                o[at + 32 * pair + 16 + L] = sn
        if dist == TRUNCMIX:  # kept inside [p[8], p[9]] and clamped
            return mix_select(o, at, a, b, lo, hi)
    else:
        trunc_lanes(p, c, cb, 64, o, at, s)
    return u64(0)


@jit
def trunc_lanes(p, w, wb, n, o, at, s):
    """o[at + k] <- truncnormal32(w[wb + k], p) for k < n (a constant multiple of 16, at most 64),
    in group32's passes: logtf's table read 16 lanes at once, the tail polynomial only where a
    lane needs it; s: scratch32() arrays."""
    si, sinv, slog, sx, sq = s
    sd, mean, lo, hi = p[0], p[1], p[2], p[3]  # p read once: the loops store to o, which might
    phia, phicb, mass, qa = p[4], p[5], p[6], p[7]  # alias p for all LLVM knows
    for k in range(n):
        q, pp = trunc_qp(w[wb + k], phia, phicb, mass, qa)
        x = ndtri_arg(pp)
        sq[k] = q
        sx[k] = x
        si[k] = logt_index(x)
    for j in range(n // 16):
        logt_lookup(si, 16 * j, sinv, slog)
    tail = i32(0)
    for k in range(n):
        x = -logt_rest(sx[k], sinv[k], slog[k])
        sx[k] = x
        tail |= i32(x >= f32(5.0))
        o[at + k] = trunc_value(sq[k] * ndtrif_central(x), sd, mean, lo, hi)
    if tail != 0:
        for k in range(n):
            x = sx[k]
            if x >= f32(5.0):
                o[at + k] = trunc_value(sq[k] * ndtrif_tail(x), sd, mean, lo, hi)


@jit
def group64(dist, p, c, cb, o, at):
    """The 32 float64 values of the group whose Philox words are c[cb:cb+64] into o[at:at+32]
    (layout: csrc/dense.h)."""
    if dist == UNIFORM:
        scale, shift, lo, hi = p[0], p[1], p[2], p[3]
        for h in range(2):
            for L in range(16):
                o[at + 16 * h + L] = uniform64(join53(c[cb + 32 * h + L], c[cb + 32 * h + 16 + L], 11),
                                               scale, shift, lo, hi)
    elif dist == NORMAL:
        sd, mean = p[0], p[1]
        for L in range(16):
            co, si = boxmuller64(join53(c[cb + L], c[cb + 16 + L], 11), join53(c[cb + 32 + L], c[cb + 48 + L], 11),
                                 sd, mean)
            o[at + L] = co
            o[at + 16 + L] = si
    else:
        for h in range(2):
            for L in range(16):
                o[at + 16 * h + L] = truncnormal64(join53(c[cb + 32 * h + L], c[cb + 32 * h + 16 + L], 12), p)


# ---- runs ----------------------------------------------------------------------

@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride):
    """out[r*run_len + j] <- element first + r*run_stride + j (float32, or float16/bfloat16 bits);
    two groups (128 elements) per step, as csrc/dense.h: run32.  One compiled loop per
    distribution (dist a constant in each: LLVM optimizes each transform's loops on their own)."""
    if dist == UNIFORM:
        fill32_uniform(fmt, kw, p, out, n_runs, run_len, first, run_stride)
    elif dist == NORMAL:
        fill32_normal(fmt, kw, p, out, n_runs, run_len, first, run_stride)
    elif is_mixture(p):
        fill32_truncmix(fmt, kw, p, out, n_runs, run_len, first, run_stride)
    else:
        fill32_trunc(fmt, kw, p, out, n_runs, run_len, first, run_stride)


@jit
def run32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride):
    """fill32 of one distribution dist (a constant where it is called).  TRUNCMIX: each step
    notes its rejected values (group32's bits); every MIX_STEPS steps and at the end of each
    run mix_drain queues them with their places in out, and draws them again 32 at a time,
    across runs (a column shard's short rows share the queue), the rest at the fill's end.
    The bits are csrc/dense.h's, whose run32_body collects them step by step: one loop without
    the collection's branches is faster here."""
    tmp = np.empty(2 * G32, np.float32)
    c = np.empty(128, np.uint32)
    s = scratch32()
    mix = dist == TRUNCMIX
    steps = np.empty(3 * MIX_STEPS if mix else 0, np.uint64)  # (first element, bits of each group) per step
    queue = np.empty(32 + 2 * G32 if mix else 0, np.uint64)  # elements
    places = np.empty(32 + 2 * G32 if mix else 0, np.int64)  # theirs in out
    nq = 0
    ms = mix_scratch(32 if mix else 0)
    for r in range(n_runs):
        at = r * run_len
        n = run_len
        gi = u64(first) + u64(r) * u64(run_stride)
        shift = at - i64(gi)  # element e goes to out[e + shift] (mod 2^64)
        nt = 0
        while n > 0:
            g = gi // u64(G32)
            e0 = i64(gi % u64(G32))
            take = min(2 * G32 - e0, n)
            philox32(kw, g * u64(16), c)
            if take == 2 * G32 and fmt == F32:
                rej0 = group32(dist, p, c, 0, out, at, s)
                rej1 = group32(dist, p, c, 64, out, at + G32, s)
            else:  # e0 < G32: the run starts in the first group; the second only if it reaches it
                rej0 = group32(dist, p, c, 0, tmp, 0, s)
                rej1 = group32(dist, p, c, 64, tmp, G32, s) if e0 + take > G32 else u64(0)
                if take == 2 * G32:  # a fixed trip count, so the rounding loops vectorize
                    if fmt == F16:
                        for i in range(2 * G32):
                            out[at + i] = to_f16(tmp[i])
                    else:
                        for i in range(2 * G32):
                            out[at + i] = to_bf16(tmp[i])
                elif fmt == F32:
                    for i in range(take):
                        out[at + i] = tmp[e0 + i]
                elif fmt == F16:
                    for i in range(take):
                        out[at + i] = to_f16(tmp[e0 + i])
                else:
                    for i in range(take):
                        out[at + i] = to_bf16(tmp[e0 + i])
            if mix:
                if take < 2 * G32:  # only the step's outputs e0 .. e0 + take - 1 are the run's
                    rej0 &= bits_between(e0, e0 + take)
                    rej1 &= bits_between(e0 - G32, e0 + take - G32)
                steps[3 * nt] = g * u64(G32)  # output k of the step is element g 64 + k
                steps[3 * nt + 1] = rej0
                steps[3 * nt + 2] = rej1
                nt += 1
            at += take
            n -= take
            gi += u64(take)
            if mix and (nt == MIX_STEPS or n == 0):
                nq = mix_drain(fmt, kw, p, out, steps, nt, queue, places, nq, shift,
                               n == 0 and r == n_runs - 1, ms)
                nt = 0


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill32_uniform(fmt, kw, p, out, n_runs, run_len, first, run_stride):
    run32(UNIFORM, fmt, kw, p, out, n_runs, run_len, first, run_stride)


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill32_normal(fmt, kw, p, out, n_runs, run_len, first, run_stride):
    run32(NORMAL, fmt, kw, p, out, n_runs, run_len, first, run_stride)


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill32_trunc(fmt, kw, p, out, n_runs, run_len, first, run_stride):
    run32(TRUNCNORMAL, fmt, kw, p, out, n_runs, run_len, first, run_stride)


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill32_truncmix(fmt, kw, p, out, n_runs, run_len, first, run_stride):
    run32(TRUNCMIX, fmt, kw, p, out, n_runs, run_len, first, run_stride)


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill64(dist, kw, p, out, n_runs, run_len, first, run_stride):
    """out[r*run_len + j] <- element first + r*run_stride + j (float64); two groups per step."""
    tmp = np.empty(2 * G64, np.float64)
    c = np.empty(128, np.uint32)
    for r in range(n_runs):
        at = r * run_len
        n = run_len
        gi = u64(first) + u64(r) * u64(run_stride)
        while n > 0:
            g = gi // u64(G64)
            e0 = i64(gi % u64(G64))
            take = min(2 * G64 - e0, n)
            philox32(kw, g * u64(16), c)
            if take == 2 * G64:
                group64(dist, p, c, 0, out, at)
                group64(dist, p, c, 64, out, at + G64)
            else:  # as run32: the second group only if the run reaches it
                group64(dist, p, c, 0, tmp, 0)
                if e0 + take > G64:
                    group64(dist, p, c, 64, tmp, G64)
                for i in range(take):
                    out[at + i] = tmp[e0 + i]
            at += take
            n -= take
            gi += u64(take)


@njit(cache=True, nogil=True)
def philox4x32(ctr, key, key_stride, out, rounds):
    """Raw Philox4x32-R: ctr (n, 4), key (m, 2) used with row stride key_stride (0 or 1)."""
    for i in range(ctr.shape[0]):
        k = i * key_stride
        w = philox(u32(ctr[i, 0]), u32(ctr[i, 1]), u32(ctr[i, 2]), u32(ctr[i, 3]),
                   u32(key[k, 0]), u32(key[k, 1]), rounds)
        out[i, 0] = w[0]
        out[i, 1] = w[1]
        out[i, 2] = w[2]
        out[i, 3] = w[3]


# ---- masked fills (csrc/masked.h: masked, masked_batch, pick32, pick64) ---------

@jit
def pick32(dist, p, c, js, o):
    """o[L] <- the value group32 gives word js[L] of lane L, for the 32 lanes of c (two groups);
    csrc: pick32.  Every word loaded, then selected (selects of values, not of loads: the
    loops vectorize)."""
    for h in range(2):
        if dist == NORMAL:
            for L in range(16):
                j = js[16 * h + L]
                w0, w1, w2, w3 = c[64 * h + L], c[64 * h + 16 + L], c[64 * h + 32 + L], c[64 * h + 48 + L]
                upper = (j & u32(2)) != u32(0)
                co, si = boxmuller32(w2 if upper else w0, w3 if upper else w1, p[0], p[1])
                o[16 * h + L] = si if (j & u32(1)) != u32(0) else co
        else:
            for L in range(16):
                j = js[16 * h + L]
                w0, w1, w2, w3 = c[64 * h + L], c[64 * h + 16 + L], c[64 * h + 32 + L], c[64 * h + 48 + L]
                odd = (j & u32(1)) != u32(0)
                lower, upper = (w1 if odd else w0), (w3 if odd else w2)
                w = upper if (j & u32(2)) != u32(0) else lower
                if dist == UNIFORM:
                    o[16 * h + L] = uniform32(w, p[0], p[1], p[2], p[3])
                else:
                    o[16 * h + L] = truncnormal32(w, p)


@jit
def pick64(dist, p, c, js, o):
    """o[L] <- the value group64 gives half js[L] of lane L, for the 32 lanes of c (csrc: pick64)."""
    for h in range(2):
        for L in range(16):
            w0, w1, w2, w3 = c[64 * h + L], c[64 * h + 16 + L], c[64 * h + 32 + L], c[64 * h + 48 + L]
            upper = js[16 * h + L] != u32(0)
            if dist == NORMAL:
                co, si = boxmuller64(join53(w0, w1, 11), join53(w2, w3, 11), p[0], p[1])
                o[16 * h + L] = si if upper else co
            elif dist == UNIFORM:
                o[16 * h + L] = uniform64(join53(w2 if upper else w0, w3 if upper else w1, 11), p[0], p[1], p[2], p[3])
            else:
                o[16 * h + L] = truncnormal64(join53(w2 if upper else w0, w3 if upper else w1, 12), p)


@jit
def block_of(e, shift):
    """Global element e's Philox block (e >> shift) * 16 + e % 16 and its word (float32 family,
    shift 6: a group of 64) or word pair (float64, shift 5: a group of 32) in that block,
    (e % group) div 16: the layout of docs/streams.md (csrc: masked_batch)."""
    e = u64(e)
    return ((e >> shift) << u64(4)) | (e & u64(15)), (e >> u64(4)) & ((u64(1) << (shift - u64(4))) - u64(1))


@jit
def blocks_of(row, cols, m, shift, lo, hi, js):
    """Lane L < m is global element e = row + cols[L]: its block into (lo[L], hi[L]), its word
    (pair) in the block into js[L] (block_of; csrc: masked_batch)."""
    for L in range(32):
        b, j = block_of(u64(row) + (u64(cols[L]) if L < m else u64(0)), shift)
        lo[L] = u32(b & u64(0xFFFFFFFF))
        hi[L] = u32(b >> u64(32))
        js[L] = u32(j)


MIX_STEPS = 16  # run32's steps between two mix_drain calls


@jit
def mix_drain(fmt, kw, p, out, steps, nt, queue, places, nq, shift, last, ms):
    """The rejected outputs of run32's steps[0 .. nt) join the queue (its first nq elements;
    places: theirs in out, element + shift in this run), and mix_store gives them their values
    32 at a time, the rest too if this is the fill's last drain; returns the queue's new length."""
    for t in range(nt):
        base = steps[3 * t]
        for h in range(2):
            rej = steps[3 * t + 1 + h]
            while rej != u64(0):
                e = base + u64(G32 * h) + ctz(rej)
                queue[nq] = e
                places[nq] = i64(e) + shift
                rej &= rej - u64(1)
                nq += 1
        if nq >= 32 or (last and t == nt - 1 and nq > 0):
            m = nq if last and t == nt - 1 else nq - nq % 32
            mix_store(fmt, kw, p, out, places, queue, m, ms)
            nq -= m
            for k in range(nq):
                queue[k] = queue[m + k]
                places[k] = places[m + k]
    return nq


@jit
def bits_between(lo, hi):
    """The uint64 whose bits k, lo <= k < hi, are set (lo, hi clipped to [0, 64])."""
    lo = max(lo, 0)
    hi = min(hi, 64)
    return (~u64(0) >> u64(64 - (hi - lo))) << u64(lo) if hi > lo else u64(0)


@jit
def mix_scratch(n):
    """mix_values' work arrays (n = 32; 0 where they go unused): block words (lo, hi), word
    indices, Philox words, the chosen words, values; the masked fill's rejected lanes (elements,
    lanes); and trunc_lanes' scratch32()."""
    return (np.empty(n, np.uint32), np.empty(n, np.uint32), np.empty(n, np.uint32), np.empty(4 * n, np.uint32),
            np.empty(n, np.uint32), np.empty(n, np.float32), np.empty(n, np.uint64), np.empty(n, np.int64),
            scratch32())


@jit
def mix_values(kw, p, e, m, ms):
    """ms[5][L] <- the truncated normal mixture's other draw for element e[L], L < m <= 32 (float32
    family; docs/streams.md): element e's word of Philox block 2^63 + its block, through the
    inverse CDF (truncnormal32, by trunc_lanes).  csrc/masked.h: mix_values."""
    lo, hi, js, c, w = ms[0], ms[1], ms[2], ms[3], ms[4]
    for L in range(32):
        b, j = block_of(e[L] if L < m else e[0], u64(6))
        lo[L] = u32(b & u64(0xFFFFFFFF))
        hi[L] = u32(b >> u64(32)) | u32(0x80000000)
        js[L] = u32(j)
    philox_lanes(kw, lo, hi, c)
    for h in range(2):  # lane L's word js[L] (as pick32: every word loaded, then selected)
        for L in range(16):
            j = js[16 * h + L]
            w0, w1, w2, w3 = c[64 * h + L], c[64 * h + 16 + L], c[64 * h + 32 + L], c[64 * h + 48 + L]
            odd = (j & u32(1)) != u32(0)
            lower, upper = (w1 if odd else w0), (w3 if odd else w2)
            w[16 * h + L] = upper if (j & u32(2)) != u32(0) else lower
    trunc_lanes(p, w, 0, 32, ms[5], 0, ms[8])


@jit
def mix_store(fmt, kw, p, out, pos, ge, m, ms):
    """out[pos[k]] <- the mixture's other draw for element ge[k], k < m, in format fmt, 32 at a
    time (run32's queue; csrc/masked.h: mix_store, whose places are relative to its window)."""
    o = ms[5]
    for k in range(0, m, 32):
        t = min(m - k, 32)
        mix_values(kw, p, ge[k:], t, ms)
        for L in range(t):
            i = pos[k + L]
            if fmt == F32:
                out[i] = o[L]
            elif fmt == F16:
                out[i] = to_f16(o[L])
            else:
                out[i] = to_bf16(o[L])


@jit
def masked_batch32(dist, fmt, kw, p, out, at, row, cols, m, lo, hi, js, c, o, ms):
    """out[at + cols[L]] <- global element row + cols[L], L < m <= 32 (csrc: masked_batch).
    TRUNCMIX: the normal's values kept inside [p[8], p[9]] (clamped), the others drawn again
    (mix_values)."""
    blocks_of(row, cols, m, u64(6), lo, hi, js)
    philox_lanes(kw, lo, hi, c)
    pick32(NORMAL if dist == TRUNCMIX else dist, p, c, js, o)
    if dist == TRUNCMIX:
        e, lanes = ms[6], ms[7]
        r = 0
        for L in range(m):
            x, rej = mix_kept(o[L], p[8], p[9], p[2], p[3])
            o[L] = x
            if rej:
                e[r] = u64(row) + u64(cols[L])
                lanes[r] = L
                r += 1
        if r > 0:
            mix_values(kw, p, e, r, ms)
            for k in range(r):
                o[lanes[k]] = ms[5][k]
    for L in range(m):
        if fmt == F32:
            out[at + i64(cols[L])] = o[L]
        elif fmt == F16:
            out[at + i64(cols[L])] = to_f16(o[L])
        else:
            out[at + i64(cols[L])] = to_bf16(o[L])


@jit
def masked_batch64(dist, fmt, kw, p, out, at, row, cols, m, lo, hi, js, c, o, ms):
    """The float64 twin of masked_batch32."""
    blocks_of(row, cols, m, u64(5), lo, hi, js)
    philox_lanes(kw, lo, hi, c)
    pick64(dist, p, c, js, o)
    for L in range(m):
        out[at + i64(cols[L])] = o[L]


@jit
def _masked(batch, dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride, o):
    """csrc: masked.  One call site of batch (each is inlined where it is called)."""
    cols = np.empty(64, np.uint32)
    lo = np.empty(32, np.uint32)
    hi = np.empty(32, np.uint32)
    js = np.empty(32, np.uint32)
    c = np.empty(128, np.uint32)
    ms = mix_scratch(32)
    words = (nc + 31) // 32
    for i in range(nr):
        at = i * ld
        row = u64(first) + u64(i) * u64(row_stride)
        out[at:at + nc] = 0
        m = 0
        for q in range(words):
            keep = u32(~bits[i * bits_ld + q])
            if 32 * q + 32 > nc:
                keep = u32(keep & ((u64(1) << u64(nc - 32 * q)) - u64(1)))
            while keep:
                cols[m] = u32(32 * q) + ctz(keep)
                m += 1
                keep = u32(keep & (keep - u32(1)))
            while m >= 32 or (q == words - 1 and m > 0):  # full batches, then the row's last
                take = min(m, 32)
                batch(dist, fmt, kw, p, out, at, row, cols, take, lo, hi, js, c, o, ms)
                m -= take
                for L in range(m):
                    cols[L] = cols[32 + L]


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill_masked32(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride):
    """csrc/fastinit.h fi_fill_masked for the 32-bit family (out: float32, or uint16 bits)."""
    if dist == TRUNCNORMAL and is_mixture(p):
        dist = TRUNCMIX
    _masked(masked_batch32, dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride,
            np.empty(32, np.float32))


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def fill_masked64(dist, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride):
    """csrc/fastinit.h fi_fill_masked for float64."""
    _masked(masked_batch64, dist, -1, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride,
            np.empty(32, np.float64))


# ---- sparse pattern (csrc/sparse.c: fi_sparse_bitmap, fi_zero_where) ----------------

@jit
def uniform_below(w0, w1, w2, w3, bound):
    """A uniform integer in [0, bound) from up to four words (csrc/philox.h: uniform_below)."""
    b = u64(bound)
    m = u64(0)
    for w in (w0, w1, w2, w3):
        m = u64(w) * b
        lo = m & u64(0xFFFFFFFF)
        if lo >= b or lo >= u64((u64(1) << u64(32)) - b) % b:  # (uint32)(-bound) % bound
            break
    return u32(m >> u64(32))


UNITS = 64  # units drawn together, 32 per philox32 call (csrc/sparse.c: UNITS)
TILES = 16  # mode 0: tiles of 32 columns whose row words are written together (csrc/sparse.c: TILES)


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def sparse_bitmap(mode, kw, rows, cols, k, r0, nr, c0, nc, bits, bits_ld):
    """The block's zeros as bits (csrc/fastinit.h: fi_sparse_bitmap): Floyd's exact random
    subset per unit, draw d of unit u from Philox block d * units + u (csrc/sparse.c:
    draws_scalar).  Mode 0's sets are bit u of rowmask[x] (also the tiles' row words, written
    a cache line of TILES words at a time); mode 1's are the bitmaps sets[u * W ..]."""
    if nr == 0 or nc == 0:
        return
    n = rows if mode == 0 else cols
    units = cols if mode == 0 else rows
    u_first = c0 if mode == 0 else r0
    u_count = nc if mode == 0 else nr
    chosen = k if mode == 0 else n - k
    complement = chosen > n // 2
    draws = n - chosen if complement else chosen
    W = (n + 31) // 32
    words = (nc + 31) // 32
    group = min(words, TILES)
    sets = np.empty(UNITS * W if mode == 1 else 0, np.uint32)
    rowmask = np.empty(n if mode == 0 else 0, np.uint64)
    colw = np.empty(group * nr if mode == 0 else 0, np.uint32)
    c = np.empty(128, np.uint32)
    for ua in range(u_first, u_first + u_count, UNITS):
        t = min(u_first + u_count - ua, UNITS)
        if mode == 0:
            rowmask[:] = 0
        else:
            sets[:] = 0
        for d in range(draws):
            j = u32(n - draws + d)
            for s in range(0, t, 32):
                philox32(kw, u64(d) * u64(units) + u64(ua + s), c)
                for u in range(s, min(t, s + 32)):
                    cb = 64 * ((u - s) // 16) + (u - s) % 16
                    x = uniform_below(c[cb], c[cb + 16], c[cb + 32], c[cb + 48], j + u32(1))
                    if mode == 0:
                        if (rowmask[x] >> u64(u)) & u64(1):
                            x = j
                        rowmask[x] |= u64(1) << u64(u)
                    else:
                        if (sets[u * W + i64(x >> u32(5))] >> (x & u32(31))) & u32(1):
                            x = j
                        sets[u * W + i64(x >> u32(5))] |= u32(1) << (x & u32(31))
        if mode == 0:  # tiles of <= 32 columns, starting at multiples of 32 in the block
            for s in range(0, t, 32):
                tile = (ua + s - c0) // 32
                g = tile % TILES
                tt = min(t - s, 32)
                full = u32(0xFFFFFFFF) if tt == 32 else u32((1 << tt) - 1)
                for i in range(nr):
                    a = u32((rowmask[r0 + i] >> u64(s)) & u64(0xFFFFFFFF))
                    colw[g * nr + i] = (~a & full) if complement else a
                if g == TILES - 1 or tile == words - 1:
                    for i in range(nr):
                        for h in range(g + 1):
                            bits[i * bits_ld + tile - g + h] = colw[h * nr + i]
        else:
            nw = (nc + 31) // 32
            for u in range(t):
                row = (ua - r0 + u) * bits_ld
                for q in range(nw):
                    bits[row + q] = u32(0xFFFFFFFF) if complement else u32(0)
                if complement and nc % 32:
                    bits[row + nw - 1] = u32((1 << (nc % 32)) - 1)
                for q in range(c0 >> 5, ((c0 + nc - 1) >> 5) + 1):
                    m = sets[u * W + q]
                    while m:
                        e = 32 * q + i64(ctz(m))
                        m = u32(m & (m - u32(1)))
                        if c0 <= e < c0 + nc:
                            bits[row + ((e - c0) >> 5)] ^= u32(1) << u32((e - c0) & 31)


@njit(cache=True, nogil=True, boundscheck=False)
def zero_where(out, ld, nr, nc, bits, bits_ld):
    """out[i * ld + j] <- 0 where bit j of row i of bits is set (fi_zero_where); branch-free,
    each element times 1 - its bit, 32 at a time, so the loop vectorizes."""
    for i in range(nr):
        for q in range((nc + 31) // 32):
            w = bits[i * bits_ld + q]
            at = i * ld + 32 * q
            if 32 * q + 32 <= nc:
                for t in range(32):
                    out[at + t] = out[at + t] * (u32(1) - ((w >> u32(t)) & u32(1)))
            else:
                for t in range(nc - 32 * q):
                    out[at + t] = out[at + t] * (u32(1) - ((w >> u32(t)) & u32(1)))
