"""Haar orthogonal, unitary and delta-orthogonal weights by blocked Householder, in place.

A product of Householder reflectors built from independent Gaussian vectors, times the
right diagonal of signs (phases), is exactly Haar-distributed (Stewart 1980, "The
efficient generation of random orthogonal matrices with an application to condition
estimators"; Mezzadri 2007, "How to generate random matrices from the classical compact
groups").  So no Gaussian matrix is factored: only the Q-formation work remains, done here
as LAPACK's ``xORGQR`` does it -- blocks of ``b`` reflectors in compact WY form
``H_j ... H_{j+b-1} = I - V T V^H``, applied from the last block to the first so that each
block only touches the trailing part of ``out`` -- with every product a BLAS GEMM.

The maths, for a tall ``(L, p)`` result (``L >= p``; a wide one is the conjugate transpose
of the tall ``(cols, rows)`` one)::

    Q = H_0 H_1 ... H_{p-1} D E          E = the first p columns of I_L
    x_k ~ N(0, I_{L-k})                  (complex: real and imaginary parts N(0, 1))
    v_k = x_k + s_k ||x_k|| e_1,  s_k = x_k[0]/|x_k[0]| (+1 if x_k[0] = 0)
    H_k = I - tau_k v_k v_k^H,    tau_k = 2 / (v_k^H v_k),   (v_k scaled so v_k[0] = 1)
    d_k = -s_k                    (the sign fix: the sign/phase of R_kk in x = H_k R)

``H_k x_k = -s_k ||x_k|| e_1``: these are exactly the reflectors and the ``R`` diagonal that
Householder QR (LAPACK ``xGEQRF``) produces on a Gaussian matrix, whose ``Q diag(sign R_kk)``
is Haar (Mezzadri 2007, section 5).  A length-one ``x_k`` (the last column of a square
matrix) gives no reflector (``tau = 0``) and ``d_k = s_k``: a fair coin (uniform phase).

Randomness (docs/orthogonal.md): the reflector stream is ``stream_id(stream) XOR
REFLECTOR_STREAM`` with the same seed; entry ``r`` (``k <= r < L``) of ``x_k`` of matrix
``i`` of a stack is element ``(i, k, r)`` of a virtual ``(B, L, L)`` float tensor filled by
:func:`fastinit.normal_` (complex: the pair ``(i, k, 2r)``, ``(i, k, 2r + 1)`` of a
``(B, L, 2L)`` tensor).  Each reflector owns its own counter range, so its randomness
depends on neither the blocking nor the threads.
"""

import math
import threading

import numpy as np
import scipy.linalg.lapack

from . import _blas, _parallel, _rounding, _validate
from ._blas import sub_matmul, triu_mul_
from ._buffers import accepts_tensors
from .fills import normal_
from .rng import stream_id

REFLECTOR_STREAM = 0x4F5254484F474E4C  # "ORTHOGNL": the reflectors' stream is the tensor's stream XOR this

SLAB = 512            # about this many columns (rows, for wide results) per slab of a block update
SLAB_GROUPS = 4       # a block update has a multiple of this many slabs (balanced on 2 or 4 cores)
SLAB_ALIGN = 16       # slab edges at multiples of this many columns (a 64-byte line of float32)
STREAM_SCRATCH = 32 << 20  # bytes of float32/64 scratch per worker on the streaming path


def block_size(L):
    """Reflectors per compact-WY block for reflectors of length up to ``L``: a larger block
    makes the update GEMMs more efficient (inner dimension ``b``) but costs ``O(b L^2)``
    more flops (``T``, ``T W``, the zero triangle of ``V``); 256 pays off only for large ``L``."""
    return 32 if L <= 128 else 64 if L <= 512 else 128 if L <= 2048 else 256


def _matrix_shape(shape, layout):
    """(rows, cols) of the matrix a tensor of ``shape`` stands for (torch or JAX semantics)."""
    n = math.prod(shape)
    if layout == "torch":  # torch.nn.init.orthogonal_: (shape[0], numel / shape[0])
        return shape[0], (n // shape[0] if shape[0] else 0)
    return (n // shape[-1] if shape[-1] else 0), shape[-1]  # JAX: column_axis=-1


# ----------------------------------------------------------------------------------------
# the reflectors


class _Source:
    """Where the reflectors of one (stack of) matrices come from."""

    def __init__(self, seed, stream, n_matrices, L, cdt, backend):
        self.seed = seed
        self.stream = stream_id(stream) ^ REFLECTOR_STREAM
        self.B, self.L, self.cdt, self.backend = n_matrices, L, cdt, backend
        self.complex = cdt.kind == "c"
        self.rdt = np.dtype(np.float64) if cdt in (np.float64, np.complex128) else np.dtype(np.float32)

    def block(self, i, j, j2):
        """Reflectors ``j .. j2-1`` of matrix ``i``: ``(G, Gc, T, d)``.

        ``G`` (``(j2-j, L-j)``, compute dtype): row ``c`` is ``v_{j+c}`` on rows ``j .. L-1``
        (zero before its own index, 1 at it), so ``V = G.T``; ``Gc = conj(G)``; ``T`` upper
        triangular with ``H_j ... H_{j2-1} = I - V T V^H``; ``d`` the sign fix (complex128 or
        float64).
        """
        nb, Lp, L = j2 - j, self.L - j, self.L
        if self.complex:
            raw = np.empty((1, nb, 2 * Lp), self.rdt)
            normal_(raw, seed=self.seed, stream=self.stream, global_shape=(self.B, L, 2 * L),
                    offset=(i, j, 2 * j), backend=self.backend, threads=1)
            G = raw[0].view(self.cdt)
        else:
            raw = np.empty((1, nb, Lp), self.rdt)
            normal_(raw, seed=self.seed, stream=self.stream, global_shape=(self.B, L, L),
                    offset=(i, j, j), backend=self.backend, threads=1)
            G = raw[0]
        r = np.arange(nb)
        alpha = G[r, r].astype(np.complex128 if self.complex else np.float64)
        G[:, :nb] = np.triu(G[:, :nb], 1)  # x_{j+c} starts at column c; drop alpha for now
        tail = _sumsq_rows(G)  # ||x[1:]||^2, in float64
        absa = np.abs(alpha)
        s = np.where(absa > 0, alpha / np.where(absa > 0, absa, 1), 1)  # sign (phase) of x[0]; +1 at 0
        norm = np.sqrt(absa * absa + tail)
        has = tail > 0
        # v = x / (x[0] - beta) with beta = -s ||x||, so that v[0] = 1
        scale = np.where(has, 1 / np.where(has, s * (absa + norm), 1), 0)
        G *= scale[:, None].astype(self.cdt)
        G[r, r] = 1
        vv = _sumsq_rows(G)  # v^H v of the stored (rounded) v: H stays orthogonal to working precision
        tau = np.where(has, 2 / vv, 0.0)
        d = np.where(has, -s, s)
        Gc = G.conj() if self.complex else G
        S = (Gc @ G.T).astype(np.complex128 if self.complex else np.float64)  # S[a, c] = v_a^H v_c
        if np.all(tau > 0):
            # T^{-1} = striu(V^H V) + diag(1/tau) (Joffrain et al. 2006, "Accumulating
            # Householder transformations, revisited"): one triangular inverse
            T, info = _trtri(self.complex)(np.triu(S, 1) + np.diag(1 / tau), lower=0)
            assert info == 0, info
        else:  # a reflector is the identity (tau = 0): LAPACK xLARFT, forward, columnwise
            T = np.zeros((nb, nb), S.dtype)
            for c in range(nb):
                T[c, c] = tau[c]
                if c and tau[c]:
                    T[:c, c] = -tau[c] * (T[:c, :c] @ S[:c, c])
        return G, Gc, T.astype(self.cdt), d


def _trtri(complex_):
    return scipy.linalg.lapack.ztrtri if complex_ else scipy.linalg.lapack.dtrtri


def _sumsq_rows(G):
    re = G.view(G.real.dtype) if G.dtype.kind == "c" else G
    return np.einsum("ij,ij->i", re, re, dtype=np.float64, casting="same_kind") if re.size else np.zeros(len(G))


def _apply_tall(Sl, G, Gc, T):
    """Sl := (I - V T V^H) Sl for a slab ``Sl`` of rows j..L-1 (V = G.T): ``W = V^H Sl`` (GEMM),
    ``Y = T W`` (TRMM, in place), and a GEMM that subtracts ``V Y`` straight into the slab
    (no temporary, no extra pass)."""
    Y = triu_mul_(Gc @ Sl, T)
    sub_matmul(Sl, G, Y, transpose_a=True)


def _apply_wide(R, G, Gc, T):
    """R := R (I - V T V^H)^H for a slab ``R`` of columns j..L-1 (V = G.T)."""
    Z = triu_mul_(R @ G.T, T, right=True)
    sub_matmul(R, Z, Gc)


def _slabs(lo, hi, width):
    """[lo, hi) cut at multiples of ``width``: the cut never depends on the thread count."""
    cuts = [lo] + list(range((lo // width + 1) * width, hi, width)) + [hi]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _own_tall(X, G, Gc, T, dg):
    """X := (I - V T V^H) [diag(dg); 0] for the block's own ``nb`` columns ``X`` (rows j..L-1),
    which hold ``[diag(dg); 0]``: ``V^H X = Gc[:, :nb] diag(dg)`` needs no GEMM, so the
    update costs ``2 L nb^2`` flops, not ``4 L nb^2``."""
    nb = len(dg)
    Y = triu_mul_(np.multiply(Gc[:, :nb], dg, order="C"), T)
    sub_matmul(X, G, Y, transpose_a=True)


def _own_wide(R, G, Gc, T, dg):
    """R := R (I - V T V^H)^H for the block's own ``nb`` rows ``R``, which hold ``[diag(dg), 0]``
    (``dg`` the conjugate of the tall case's): ``R V = diag(dg) V[:nb]``, no GEMM."""
    nb = len(dg)
    Z = triu_mul_(np.multiply(G[:, :nb].T, dg[:, None], order="C"), T, right=True)
    sub_matmul(R, Z, Gc)


def _even_slabs(lo, hi):
    """[lo, hi) cut into ``k`` slabs of about equal width, ``k = ceil((hi - lo) / SLAB)`` rounded
    up to a multiple of SLAB_GROUPS, edges at multiples of SLAB_ALIGN: the cut depends on
    (lo, hi) only, never on the thread count, and equal slabs keep every core busy to the
    end of a block (fixed-width slabs leave one core idle for up to a slab per block)."""
    k = -(-(hi - lo) // SLAB)
    k = -(-k // SLAB_GROUPS) * SLAB_GROUPS
    edges = [lo + (hi - lo) * t // k // SLAB_ALIGN * SLAB_ALIGN for t in range(k)] + [hi]
    return [(a, z) for a, z in zip(edges[:-1], edges[1:]) if z > a]


class _Blocks:
    """The tasks of one in-place fill and the order they may run in (a task graph, no barrier).

    Block ``n`` (reflectors ``j .. j2-1``, the ``n``-th applied) has tasks: its own columns
    ``[j, j2)``, then slabs of ``[j2, p)`` (``_even_slabs``); a task may run once block ``n``'s
    reflectors are drawn and every task of block ``n - 1`` on overlapping columns is done.
    So a core that finishes its slabs of block ``n`` goes on with block ``n + 1`` where
    block ``n`` is done, instead of waiting for the slowest slab.  Reflectors are drawn by
    whichever worker is free, at most ``LIVE`` blocks at a time (memory).  Which worker
    runs a task never changes what it computes: the bits do not depend on the threads.
    """

    LIVE = 3

    def __init__(self, src, i, starts, b, p, apply):
        self.src, self.i, self.apply = src, i, apply
        self.ranges = [(j, min(j + b, p)) for j in starts]
        self.tasks = [[(j, j2)] + _even_slabs(j2, p) for j, j2 in self.ranges]
        # deps[n][t]: the tasks of block n - 1 whose columns overlap task t's
        self.deps = [[[] for _ in self.tasks[0]]]
        for prev, cur in zip(self.tasks, self.tasks[1:]):
            self.deps.append([[u for u, (c, d) in enumerate(prev) if c < z and a < d] for a, z in cur])
        self.state = [[0] * len(t) for t in self.tasks]  # 0 waiting, 1 running, 2 done
        self.left = [len(t) for t in self.tasks]
        self.refl = {}  # n -> None while being drawn, then (G, Gc, T, d)
        self.low = 0    # the first block with tasks left
        self.error = None
        self.cond = threading.Condition()

    def _pick(self):
        """The next job, in priority order: draw the next reflectors, then the earliest
        runnable task; None when there is nothing to do now; () when all is done."""
        if self.low == len(self.tasks):
            return ()
        top = min(self.low + self.LIVE, len(self.tasks))
        for n in range(self.low, top):
            if n not in self.refl:
                self.refl[n] = None
                return ("draw", n)
        for n in range(self.low, top):
            if self.refl[n] is None:
                break
            for t, st in enumerate(self.state[n]):
                if st == 0 and all(self.state[n - 1][u] == 2 for u in self.deps[n][t]):
                    self.state[n][t] = 1
                    return ("apply", n, t)
        return None

    def work(self, _worker):
        while True:
            with self.cond:
                while (job := self._pick()) is None and self.error is None:
                    self.cond.wait()
                if self.error is not None or job == ():
                    return
            try:
                done = self._run(job)
            except BaseException as e:
                with self.cond:
                    self.error = e
                    self.cond.notify_all()
                raise
            with self.cond:
                done()
                self.cond.notify_all()

    def _run(self, job):
        if job[0] == "draw":
            n = job[1]
            refl = self.src.block(self.i, *self.ranges[n])

            def done():
                self.refl[n] = refl
            return done
        _, n, t = job
        self.apply(self.ranges[n], self.tasks[n][t], t == 0, self.refl[n])

        def done():
            self.state[n][t] = 2
            self.left[n] -= 1
            while self.low < len(self.tasks) and self.left[self.low] == 0:
                del self.refl[self.low]
                self.low += 1
        return done


def _in_place(M, src, i, gain, nthreads):
    """Fill the 2-D compute-dtype view ``M`` (one matrix) in place, block by block
    (``_Blocks``: the task graph that the workers run)."""
    rows, cols = M.shape
    tall = rows >= cols
    L, p = (rows, cols) if tall else (cols, rows)
    b = block_size(L)

    # each task first sets its part of Q[j:, j:] that no earlier block touched to D E
    # (tall; the mirror image for W = Q^H): no separate pass writes the identity
    def apply(block, cut, own, refl):
        (j, j2), (a, z), (G, Gc, T, d) = block, cut, refl
        S = M[j:, a:z] if tall else M[a:z, j:]
        X = S if tall else S.T  # the slab as columns of the tall result
        if own:
            dg = (gain * (d if tall else d.conj())).astype(src.cdt)
            X[...] = 0
            X[np.arange(z - a), np.arange(z - a)] = dg
            (_own_tall if tall else _own_wide)(S, G, Gc, T, dg)
        else:
            X[:j2 - j] = 0
            (_apply_tall if tall else _apply_wide)(S, G, Gc, T)

    blocks = _Blocks(src, i, list(reversed(range(0, p, b))), b, p, apply)
    _parallel.each(_blas.pinned(blocks.work), range(nthreads), nthreads)


def _streamed(M, src, i, gain, nthreads):
    """Fill ``M`` (any float dtype) one slab at a time: each slab of the tall result is built
    in a compute-dtype scratch of ``L x width`` (regenerating the reflectors it needs),
    then rounded into ``M``: every element of ``M`` is written exactly once."""
    rows, cols = M.shape
    tall = rows >= cols
    L, p = (rows, cols) if tall else (cols, rows)
    b = block_size(L)
    width = max(b, (STREAM_SCRATCH // (L * src.cdt.itemsize)) // b * b)

    def one(cut):
        c0, c1 = cut
        Z = np.zeros((L, c1 - c0), src.cdt)
        for j in reversed(range(0, c1, b)):
            j2 = min(j + b, p)
            G, Gc, T, d = src.block(i, j, j2)
            k = np.arange(max(j, c0), min(j2, c1))
            Z[k, k - c0] = gain * d[k - j]
            a = max(j, c0) - c0
            _apply_tall(Z[j:, a:], G, Gc, T)
        if tall:
            _store(M[:, c0:c1], Z)
        else:
            _store(M[c0:c1, :], Z.T.conj() if src.complex else Z.T)

    _parallel.each(_blas.pinned(one), _slabs(0, p, width), nthreads)


def _store(dst, Z):
    """dst[...] = Z, rounded to dst's dtype by fastinit's own float32 -> float16/bfloat16 rounding
    (the kernels' ``to_f16``/``to_bf16``), not by a conversion whose bits a NumPy or ml_dtypes
    version could change."""
    if dst.dtype.itemsize == 2:
        dst.view(np.uint16)[...] = _rounding.f32_to_16(Z, dst.dtype)
    else:
        dst[...] = Z


def _mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def _fill(out, gain, seed, stream, backend, threads, layout, batch_dims):
    nthreads = _validate.check_threads(threads)
    bshape = out.shape[:batch_dims]
    B = math.prod(bshape)
    rows, cols = _matrix_shape(out.shape[batch_dims:], layout)
    if out.size == 0:
        return out
    mats = out.reshape(B, rows, cols)  # a view: out is C-contiguous
    cdt = _validate.compute_dtype(out.dtype)
    src = _Source(seed, stream, B, max(rows, cols), cdt, backend)
    avail = _mem_available()
    stream_it = out.dtype != cdt or (isinstance(out, np.memmap) and avail is not None and out.nbytes > avail // 2)
    fill = _streamed if stream_it else _in_place
    # one BLAS thread per worker: our threads, never BLAS's (no oversubscription), and GEMM's
    # summation order, which OpenBLAS changes with its thread count, fixed (fastinit._blas)
    with _blas.one_thread(outer=True):
        if B >= nthreads > 1:  # a stack: one matrix per worker at a time
            _parallel.each(_blas.pinned(lambda i: fill(mats[i], src, i, gain, 1)), range(B), nthreads)
        else:
            for i in range(B):
                fill(mats[i], src, i, gain, nthreads)
    return out


# ----------------------------------------------------------------------------------------
# public


@accepts_tensors
def orthogonal_(out, gain=1.0, *, seed, stream=None, backend=None, threads=None, layout="torch", batch_dims=0):
    """Fill ``out`` with a Haar-distributed (semi-)orthogonal matrix times ``gain``, in place.

    ``layout="torch"`` (``torch.nn.init.orthogonal_``): the matrix is ``out`` flattened to
    ``(shape[0], numel / shape[0])``; ``layout="jax"`` (``jax.nn.initializers.orthogonal``,
    ``column_axis=-1``): ``(numel / shape[-1], shape[-1])``.  A tall matrix has orthonormal
    columns, a wide one orthonormal rows.  ``batch_dims=k``: the first ``k`` dims index a
    stack of independent matrices (each from its own counters; filled in parallel).

    Blocked Householder (compact WY), no QR: ``Q = H_0 ... H_{p-1} D`` from Gaussian
    reflectors with the sign fix (Stewart 1980; Mezzadri 2007); docs/orthogonal.md.
    float16/bfloat16 are computed in float32 slab by slab and rounded once.  The result is
    deterministic for (seed, stream, shape, dtype, layout, batch_dims): every BLAS call runs
    on one BLAS thread per worker, by BLAS's per-thread setting (fastinit._blas), so the bits
    depend neither on ``threads``, nor on the process's BLAS thread count (which is left as
    it was), nor on other Python threads calling at the same time.  Returns ``out``.

    >>> w = orthogonal_(np.empty((512, 256), np.float32), seed=0, stream="rnn.weight_hh")
    """
    gain, _ = _validate.check_orthogonal(out, "real", gain, seed, stream, backend, threads, layout, batch_dims, 2,
                                         "orthogonal_")
    return _fill(out, gain, seed, stream, backend, threads, layout, batch_dims)


@accepts_tensors
def unitary_(out, gain=1.0, *, seed, stream=None, backend=None, threads=None, layout="torch", batch_dims=0):
    """Fill complex ``out`` (complex64/complex128) with a Haar unitary (semi-unitary) matrix
    times ``gain``, in place; shapes as :func:`orthogonal_`.  Householder reflectors from
    complex Gaussians with the phase fix ``d_k = -x_k[0]/|x_k[0]|`` (Mezzadri 2007).

    >>> u = unitary_(np.empty((64, 64), np.complex64), seed=0, stream="u")
    """
    gain, _ = _validate.check_orthogonal(out, "complex", gain, seed, stream, backend, threads, layout, batch_dims, 2,
                                         "unitary_")
    return _fill(out, gain, seed, stream, backend, threads, layout, batch_dims)


@accepts_tensors
def delta_orthogonal_(out, gain=1.0, *, seed, stream=None, backend=None, threads=None, layout="torch"):
    """Orthogonal-delta convolution kernel (Xiao et al. 2018), in place: zero except the
    centre tap, which is ``gain`` times an ``(in, out)`` matrix with orthonormal rows.

    ``layout="torch"``: ``out`` is ``(out_channels, in_channels, *kernel)``, centre index
    ``k // 2`` in each spatial dim (as ``torch.nn.init.dirac_``); ``layout="jax"``:
    ``(*kernel, in, out)``, centre ``(k - 1) // 2`` (as ``jax.nn.initializers.delta_orthogonal``).
    The two differ only for even kernels.  1-D, 2-D or 3-D kernels (3 to 5 dims), and
    ``in <= out`` as JAX requires.  The centre matrix is the same for both layouts
    (transposed in torch's): ``orthogonal_`` of an ``(in, out)`` matrix, same seed/stream.

    >>> w = delta_orthogonal_(np.empty((64, 32, 3, 3), np.float32), seed=0, stream="conv1")
    """
    _validate.check_matrix_out(out, "real", "delta_orthogonal_")
    if out.ndim not in (3, 4, 5):
        raise ValueError(f"Delta orthogonal initializer requires a 3D, 4D or 5D shape; got out.shape={out.shape}")
    gain, _ = _validate.check_orthogonal(out, "real", gain, seed, stream, backend, threads, layout, 0, 3,
                                         "delta_orthogonal_")
    if layout == "torch":
        n_out, n_in, ks = out.shape[0], out.shape[1], out.shape[2:]
        centre = tuple(k // 2 for k in ks)
    else:
        ks, n_in, n_out = out.shape[:-2], out.shape[-2], out.shape[-1]
        centre = tuple((k - 1) // 2 for k in ks)
    if n_in > n_out:
        raise ValueError(f"`fan_in` must be less or equal than `fan_out`. (got in={n_in}, out={n_out} "
                         f"for out.shape={out.shape}, layout={layout!r})")
    if out.size == 0:
        return out
    tap = np.empty((n_in, n_out), _validate.compute_dtype(out.dtype))
    _fill(tap, gain, seed, stream, backend, threads, "torch", 0)
    out[...] = 0
    if layout == "torch":
        out[(slice(None), slice(None)) + centre] = tap.T
    else:
        out[centre] = tap
    return out
