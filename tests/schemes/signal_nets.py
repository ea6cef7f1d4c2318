"""Measured signal propagation through many random MLPs at once, for the agreement tests.

Every network is ``Linear(d_in, n), (phi, Linear(n, n)) x (depth - 1)`` without biases.  Its
weights are ``s * Z``: ``Z`` one standard matrix per (network, layer) filled by fastinit
(``normal_``; ``trunc_normal_`` at 2 sd rescaled to unit variance for lecun_normal; Haar
``orthogonal_``), and ``s`` the scheme's standard deviation from its textbook formula
(written here independently of fastinit.signal): the weights of e.g.
``kaiming_normal_(nonlinearity=phi)`` exactly in law.  Sharing ``Z`` across schemes and
activations lets one matrix product serve them all: ``(s Z) x = s (Z x)`` -- the only
difference from a per-network product is float rounding.

Backward: the output gradient is N(0, 1) and ``d_l = phi'(h_l) * (s_{l+1} d_{l+1} Z_{l+1})``,
with each ``Z`` regenerated from its counters (the weights of 50 layers of 4096^2 would
need 6.7 GB).  The gradient is renormalized every layer and its log-scale carried apart:
the backward pass is linear in ``d``, and the float32 gradient of a sigmoid network would
otherwise underflow (the predicted 0.055 per layer reaches 1e-45 by depth 35).

Orthogonal ``Z`` is ``orthogonal_``'s own matrix, applied without being formed
(:class:`OrthogonalOperator`): a network at batch 2 only needs ``Z y`` and ``Z^T d`` for 16
vectors per layer, and ``orthogonal_``'s matrix is by its documented construction
(docs/orthogonal.md) the product of Householder reflectors drawn from its reflector stream,
which LAPACK's ``sormqr`` applies to 16 vectors in O(n^2) work instead of the O(n^3) of forming
it: 0.1 s a layer at width 4096 against 2.7 s for ``orthogonal_`` on one core.  Every element of
the reflector stream that ``orthogonal_`` uses is used; ``test_orthogonal_operator_is_orthogonal_``
checks ``Z y`` and ``Z^T d`` against the formed matrix at the widths the tests use.
"""

import math

import numpy as np
import scipy.linalg.lapack
import torch
from scipy import integrate

import fastinit
from fastinit._blas import one_thread
from fastinit.orthogonal import REFLECTOR_STREAM
from fastinit.rng import stream_id

ACTS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "selu"]
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
TORCH_GAINS = {"linear": 1.0, "relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0 / (1 + 0.01 ** 2)), "tanh": 5 / 3,
               "sigmoid": 1.0, "selu": 0.75}  # torch.nn.init.calculate_gain's table


def phi(act, h):
    return {"linear": lambda: h, "relu": lambda: torch.relu(h),
            "leaky_relu": lambda: torch.nn.functional.leaky_relu(h, 0.01), "tanh": lambda: torch.tanh(h),
            "sigmoid": lambda: torch.sigmoid(h), "gelu": lambda: torch.nn.functional.gelu(h),
            "silu": lambda: torch.nn.functional.silu(h), "selu": lambda: torch.selu(h)}[act]()


def dphi(act, h):
    if act == "linear":
        return torch.ones_like(h)
    if act in ("relu", "leaky_relu"):
        return torch.where(h > 0, 1.0, 0.0 if act == "relu" else 0.01)
    if act == "tanh":
        return 1 - torch.tanh(h) ** 2
    if act == "sigmoid":
        s = torch.sigmoid(h)
        return s * (1 - s)
    if act == "gelu":
        return 0.5 * (1 + torch.erf(h / math.sqrt(2))) + h * torch.exp(-0.5 * h * h) / math.sqrt(2 * math.pi)
    if act == "silu":
        s = torch.sigmoid(h)
        return s * (1 + h * (1 - s))
    return SELU_SCALE * torch.where(h > 0, 1.0, SELU_ALPHA * torch.exp(torch.clamp(h, max=0.0)))


def reference_gain(act):
    """torch's gain where torch has one; 1 / sqrt(E[phi(z)^2]) by adaptive quadrature (SciPy) otherwise."""
    if act in TORCH_GAINS:
        return TORCH_GAINS[act]
    f = {"gelu": lambda z: z * 0.5 * (1 + math.erf(z / math.sqrt(2))), "silu": lambda z: z / (1 + math.exp(-z))}[act]
    second = sum(integrate.quad(lambda z: f(z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), lo, hi,
                                epsabs=0, epsrel=1e-12)[0] for lo, hi in ((-40, 0), (0, 40)))
    return 1 / math.sqrt(second)


def spec_and_std(scheme, act, fan_in, fan_out):
    """(the scheme spec fastinit.signal reads, the std of its weights by the textbook formula)."""
    g = reference_gain(act)
    # kaiming's a is leaky_relu's slope (default 0, i.e. ReLU's gain): give the network's 0.01
    nl = "a=0.01, nonlinearity='leaky_relu'" if act == "leaky_relu" else f"nonlinearity='{act}'"
    if scheme == "xavier":
        return "xavier_normal", math.sqrt(2 / (fan_in + fan_out))
    if scheme == "kaiming_in":
        return f"kaiming_normal({nl})", g / math.sqrt(fan_in)
    if scheme == "kaiming_out":
        return f"kaiming_normal(mode='fan_out', {nl})", g / math.sqrt(fan_out)
    if scheme == "lecun":
        return "lecun_normal", 1 / math.sqrt(fan_in)
    if scheme == "orthogonal":
        return f"orthogonal(gain={g!r})", g  # rows (or columns) of norm 1: s scales the unit-norm matrix
    raise ValueError(scheme)


def base_matrix(kind, shape, seed, stream, out=None):
    """The standard matrix of ``kind`` for (seed, stream), written into ``out`` if given (reusing one
    buffer spares the page faults of a fresh 67 MB array per layer)."""
    z = np.empty(shape, np.float32) if out is None else out
    if kind == "normal":
        fastinit.normal_(z, 0.0, 1.0, seed=seed, stream=stream)
    elif kind == "truncated":  # JAX's truncated normal of unit std: N(0, 1/0.8796^2) cut at 2 sd
        fastinit.trunc_normal_(z, 0.0, 1 / 0.87962566103423978, -2.0, 2.0, bounds="std", seed=seed, stream=stream)
    else:
        fastinit.orthogonal_(z, seed=seed, stream=stream)
    return torch.from_numpy(z)


class OrthogonalOperator:
    """``orthogonal_(np.empty(shape, np.float32), seed=seed, stream=stream)`` as an operator:
    ``matmul(y) = Z @ y`` and ``rmatmul(d) = Z.T @ d`` for ``y``, ``d`` of a few columns, equal to
    the formed matrix's products to float32 rounding.

    docs/orthogonal.md, "The maths": for the tall ``(L, p)`` result (a wide one is its transpose)
    ``Z = H_0 ... H_{p-1} D E`` with ``H_k = I - tau_k v_k v_k^T``, ``v_k = x_k + s_k ||x_k|| e_1``
    (scaled to ``v_k[0] = 1``), ``s_k = sign x_k[0]``, ``d_k = -s_k`` (``s_k`` where ``x_k`` has no
    tail, the last column of a square matrix), and ``x_k`` row ``k`` from the diagonal on of the
    reflector stream's ``(p, L)`` float32 normal fill.  Those ``v_k`` and ``tau_k`` are what
    LAPACK's ``xGEQRF`` stores (reflector ``k`` below the diagonal of column ``k``), so
    ``sormqr`` applies the product to vectors.  Memory: one ``(p, L)`` float32 array.
    """

    ROWS = 256  # rows of the reflector array per pass of the norms and the scaling

    def __init__(self, shape, seed, stream):
        rows, cols = shape
        L, p = max(rows, cols), min(rows, cols)
        x = fastinit.normal_(np.empty((p, L), np.float32), seed=seed, stream=stream_id(stream) ^ REFLECTOR_STREAM)
        x0 = x[np.arange(p), np.arange(p)].astype(np.float64)
        tail = np.empty(p)  # ||x_k[1:]||^2, summed in float64 over the upper triangle only
        for r0 in range(0, p, self.ROWS):
            r1 = min(r0 + self.ROWS, p)
            corner = np.triu(x[r0:r1, r0:r1], 1).astype(np.float64)
            rest = x[r0:r1, r1:].astype(np.float64)
            tail[r0:r1] = (corner * corner).sum(1) + (rest * rest).sum(1)
        s = np.where(x0 < 0, -1.0, 1.0)
        has = tail > 0
        lead = np.where(has, x0 + s * np.sqrt(x0 * x0 + tail), 1.0)  # v_k[0] before scaling
        for r0 in range(0, p, self.ROWS):
            r1 = min(r0 + self.ROWS, p)
            x[r0:r1, r0:] /= lead[r0:r1, None].astype(np.float32)
        self.tau = np.where(has, 2 / (1 + tail / (lead * lead)), 0.0).astype(np.float32)
        self.d = np.where(has, -s, s).astype(np.float32)[:, None]
        self.v = x.T  # Fortran order (L, p): column k is v_k below the diagonal, as xGEQRF leaves it
        self.tall = rows >= cols
        self.L, self.p = L, p

    def _apply(self, trans, c):
        work = scipy.linalg.lapack.sormqr("L", trans, self.v, self.tau, c, -1)[1]
        with one_thread(outer=True):  # OpenBLAS on two threads of a busy 2-core machine: 15x slower
            out, _, info = scipy.linalg.lapack.sormqr("L", trans, self.v, self.tau, c, int(work[0]), overwrite_c=1)
        assert info == 0, info
        return out

    def _q(self, c):  # the tall (L, p) matrix times c (p, k)
        full = np.zeros((self.L, c.shape[1]), np.float32, order="F")
        full[:self.p] = self.d * c
        return self._apply("N", full)

    def _qt(self, c):  # its transpose times c (L, k)
        return self.d * self._apply("T", np.array(c, np.float32, order="F"))[:self.p]  # a copy: sormqr overwrites it

    def matmul(self, y):
        return self._q(y) if self.tall else self._qt(y)

    def rmatmul(self, d):
        return self._qt(d) if self.tall else self._q(d)


KIND = {"xavier": "normal", "kaiming_in": "normal", "kaiming_out": "normal", "lecun": "truncated",
        "orthogonal": "orthogonal"}


def run(schemes, depth, width, d_in, nets, batch, acts=ACTS, keep=False, seed=2026):
    """Measured E[h_l^2] and E[(dL/dh_l)^2] (l = 1..depth) for every (scheme, activation) of
    ``schemes`` x ``acts``, all of one base-matrix kind: ``{(scheme, act): (fwd[nets, depth],
    bwd[nets, depth])}``.  ``keep``: hold each network's matrices for the backward pass instead of
    regenerating them (memory: depth x width^2 x 4 bytes).  One torch thread: on a shared
    2-core machine the small element-wise ops are several times slower with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(schemes, depth, width, d_in, nets, batch, acts, keep, seed)
    finally:
        torch.set_num_threads(threads)


def _run(schemes, depth, width, d_in, nets, batch, acts, keep, seed):
    kind = {KIND[s] for s in schemes}
    assert len(kind) == 1, schemes
    kind = kind.pop()
    configs = [(s, a) for s in schemes for a in acts]
    shapes = [(width, d_in)] + [(width, width)] * (depth - 1)
    scale = torch.tensor([[spec_and_std(s, a, shape[1], shape[0])[1] for s, a in configs] for shape in shapes],
                         dtype=torch.float32)  # [layer, config]
    C = len(configs)
    buffers = {} if kind == "orthogonal" else {shape: np.empty(shape, np.float32) for shape in set(shapes)}
    fwd, bwd = np.empty((C, nets, depth)), np.empty((C, nets, depth))
    for k in range(nets):
        x = torch.empty(batch, d_in)
        fastinit.normal_(x.numpy(), seed=seed, stream=f"input.{k}")
        streams = [f"net{k}.layer{l}" for l in range(depth)]
        hs, kept = [], {}
        u = _layer(kind, shapes[0], seed, streams[0], buffers).forward(x)  # shared by all configs
        h = scale[0][:, None, None] * u[None]  # [config, batch, width]
        hs.append(h)
        for l in range(1, depth):
            y = torch.stack([phi(a, h[c]) for c, (_, a) in enumerate(configs)])
            z = _layer(kind, shapes[l], seed, streams[l], None if keep else buffers)
            if keep:
                kept[l] = z
            h = scale[l][:, None, None] * z.forward(y.reshape(C * batch, width)).reshape(C, batch, width)
            hs.append(h)
        fwd[:, k] = np.stack([(h.double() ** 2).mean(dim=(1, 2)).numpy() for h in hs], axis=1)
        cot = torch.empty(batch, width)
        fastinit.normal_(cot.numpy(), seed=seed, stream=f"cotangent.{k}")
        d = cot[None].expand(C, batch, width).contiguous()
        logscale = torch.zeros(C, dtype=torch.float64)
        bwd[:, k, depth - 1] = (d.double() ** 2).mean(dim=(1, 2)).numpy()
        for l in range(depth - 1, 0, -1):
            z = kept.pop(l) if keep else _layer(kind, shapes[l], seed, streams[l], buffers)
            back = scale[l][:, None, None] * z.backward(d.reshape(C * batch, width)).reshape(C, batch, width)
            d = torch.stack([dphi(a, hs[l - 1][c]) * back[c] for c, (_, a) in enumerate(configs)])
            ms = (d.double() ** 2).mean(dim=(1, 2))
            bwd[:, k, l - 1] = np.exp(np.log(ms.numpy()) + logscale.numpy())
            norm = torch.sqrt(torch.where(ms > 0, ms, 1.0))
            d = d / norm.float()[:, None, None]
            logscale += torch.log(norm ** 2)
    return {cfg: (fwd[c], bwd[c]) for c, cfg in enumerate(configs)}


class _Dense:
    def __init__(self, z):
        self.z = z

    def forward(self, y):  # rows of y times Z^T
        return y @ self.z.T

    def backward(self, d):  # rows of d times Z
        return d @ self.z


class _Operator:
    def __init__(self, op):
        self.op = op

    def forward(self, y):
        return torch.from_numpy(self.op.matmul(y.numpy().T).T)

    def backward(self, d):
        return torch.from_numpy(self.op.rmatmul(d.numpy().T).T)


def _layer(kind, shape, seed, stream, buffers):
    """Layer ``stream``'s standard matrix of ``kind`` (in ``buffers[shape]`` if given) behind
    ``forward``/``backward``; orthogonal ones as :class:`OrthogonalOperator`."""
    if kind == "orthogonal":
        return _Operator(OrthogonalOperator(shape, seed, stream))
    return _Dense(base_matrix(kind, shape, seed, stream, None if buffers is None else buffers.get(shape)))
