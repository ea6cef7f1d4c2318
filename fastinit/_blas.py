"""C -= A @ B straight into a strided view, through the BLAS that SciPy ships; and BLAS
calls whose bits do not depend on how many threads BLAS may use.

NumPy's ``matmul`` cannot accumulate into its output, so ``C -= A @ B`` costs a temporary
and an extra pass over ``C``.  BLAS ``xGEMM`` does it in place (beta = 1) and takes any
leading dimension, so ``C`` may be a slab of a larger row-major matrix.  The Fortran
routine is reached through ``scipy.linalg.cython_blas``'s exported function pointers and
called with cffi (which releases the GIL).  Row-major ``C = C - op(A) B`` is the
column-major ``C^T = C^T - B^T op(A)^T``: no array is transposed or copied.

OpenBLAS's GEMM sums in a different order when it runs on more threads (measured: float32
``(64 x 700) @ (700 x 256)`` differs by 3.8e-5 between 1 and 2 threads), so a result that
must be the same bits everywhere runs inside :func:`one_thread`, where every BLAS call runs
on one BLAS thread.  OpenBLAS (pthreads) has one process-wide count: its
``openblas_set_num_threads_local`` changes what every thread sees (measured with 0.3.30),
and threadpoolctl >= 3.8 lets only one "controlling" Python thread change it (from any other
thread ``threadpool_limits`` does nothing).  So the count is set by the library's own setter,
which works from any thread, one fastinit call at a time under a lock, and restored to the
value it had; MKL's per-thread ``mkl_set_num_threads_local`` is used where MKL is the BLAS.
"""

import contextlib
import ctypes
import itertools
import threading

import numpy as np
import scipy.linalg.blas
import scipy.linalg.cython_blas as _cython_blas
from cffi import FFI

_ffi = FFI()
_TYPES = {np.dtype(np.float32): ("sgemm", "float"), np.dtype(np.float64): ("dgemm", "double"),
          np.dtype(np.complex64): ("cgemm", "float"), np.dtype(np.complex128): ("zgemm", "double")}
_FUNCS = {}


def _gemm(dtype):
    fn = _FUNCS.get(dtype)
    if fn is None:
        name, real = _TYPES[dtype]
        capsule = _cython_blas.__pyx_capi__[name]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        address = get_pointer(capsule, get_name(capsule))
        # complex scalars and arrays are passed as pointers to (re, im) pairs: void* covers both
        fn = _FUNCS[dtype] = _ffi.cast("void (*)(char *, char *, int *, int *, int *, void *, void *, int *, "
                                       "void *, int *, void *, void *, int *)", address)
    return fn


def sub_matmul(c, a, b, *, transpose_a=False):
    """``c -= (a.T if transpose_a else a) @ b`` in place.

    ``a`` and ``b`` C-contiguous; ``c`` 2-D with unit column stride (a row-major slab of a
    larger matrix is fine); all of one BLAS dtype (float32/64, complex64/128).
    """
    dtype = c.dtype
    if dtype not in _TYPES or a.dtype != dtype or b.dtype != dtype:
        raise TypeError(f"sub_matmul needs one of {[str(t) for t in _TYPES]} throughout; got {c.dtype}, "
                        f"{a.dtype}, {b.dtype}")
    if not (a.flags.c_contiguous and b.flags.c_contiguous) or c.strides[1] != c.itemsize or \
            c.strides[0] % c.itemsize:
        raise ValueError("sub_matmul needs C-contiguous a and b and a unit-column-stride c")
    m, n = c.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    if (a.shape[1] if transpose_a else a.shape[0]) != m or b.shape != (k, n):
        raise ValueError(f"shapes do not match: c {c.shape}, a {a.shape} (transposed: {transpose_a}), b {b.shape}")
    if m == 0 or n == 0 or k == 0:
        return c
    # column-major: C^T (n x m, ldc = row stride) -= B^T (n x k, ld n) @ op(A)^T (k x m).
    # A C-order (m x k) a is op(A)^T = a^T (k x m, ld k) as it lies: 'N'.  With transpose_a, a is
    # C-order (k x m) and lies as a^T (m x k, ld m): 'T' turns it into the (k x m) needed.
    ta = b"T" if transpose_a else b"N"
    lda = m if transpose_a else k
    one = np.ones(1, dtype)
    minus = -one
    ints = _ffi.new("int[6]", [n, m, k, n, lda, c.strides[0] // c.itemsize])
    _gemm(dtype)(_ffi.new("char[]", b"N"), _ffi.new("char[]", ta), ints, ints + 1, ints + 2,
                 _ffi.from_buffer(minus), _ffi.from_buffer(b), ints + 3, _ffi.from_buffer(a), ints + 4,
                 _ffi.from_buffer(one), _ffi.cast("void *", c.ctypes.data), ints + 5)
    return c


def triu_mul_(x, t, *, right=False):
    """``x := t @ x`` (``right=True``: ``x := x @ t^H``) in place, for an upper triangular
    ``t``: BLAS ``xTRMM``, half the flops of a GEMM.  ``x`` C-contiguous, ``t`` square, of
    one BLAS dtype.  Row-major ``x`` is the column-major ``x^T``: ``t x`` is ``x^T t^T``
    (TRMM from the right, 'T'), and ``x t^H`` is ``conj(t) x^T`` (from the left, on
    ``conj(t)``), so ``x`` is neither transposed nor copied.
    """
    if not x.flags.c_contiguous or t.dtype != x.dtype or t.shape != (t.shape[0],) * 2 or \
            t.shape[0] != (x.shape[1] if right else x.shape[0]):
        raise ValueError(f"triu_mul_ needs a C-contiguous x and a square t of its dtype; got {x.shape} {x.dtype}, "
                         f"{t.shape} {t.dtype}")
    if x.size == 0:
        return x
    trmm = scipy.linalg.blas.get_blas_funcs("trmm", dtype=x.dtype)
    if right:
        r = trmm(1, t.conj() if x.dtype.kind == "c" else t, x.T, side=0, lower=0, trans_a=0, overwrite_b=1)
    else:
        r = trmm(1, t, x.T, side=1, lower=0, trans_a=1, overwrite_b=1)
    if not np.shares_memory(r, x):  # pragma: no cover - f2py copied x^T after all
        x[...] = r.T
    return x


# ----------------------------------------------------------------------------------------
# one BLAS thread per call


class _Pin:
    """One loaded BLAS library: a per-thread setter ``local`` (MKL), or its process-wide
    ``get``/``put``."""

    def __init__(self, path, local=None, get=None, put=None):
        self.path, self.local, self.get, self.put = path, local, get, put


def _symbol(lib, names):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_int
            return fn
    return None


def _affixed(name):  # scipy-openblas wheels prefix and suffix OpenBLAS's names
    return [f"{p}{name}{s}" for p, s in itertools.product(("", "scipy_"), ("", "64_", "_64"))]


_PINS = None
_PINS_LOCK = threading.Lock()
_GLOBAL_LOCK = threading.Lock()  # one fastinit call at a time holds a process-wide count at 1
_LOCAL = threading.local()


def pins():
    """The BLAS libraries loaded in this process (NumPy's and SciPy's), found once."""
    global _PINS
    with _PINS_LOCK:
        if _PINS is None:
            import scipy.linalg  # noqa: F401 (load SciPy's BLAS before listing the libraries)
            from threadpoolctl import threadpool_info

            found = []
            for info in threadpool_info():
                if info.get("user_api") != "blas":
                    continue
                lib = ctypes.CDLL(info["filepath"])
                api = info.get("internal_api")
                if api == "openblas" and info.get("threading_layer") == "openmp":
                    # OpenMP's count is per thread: pin the calling thread's, as MKL's
                    found.append(_Pin(info["filepath"], _omp_local(lib)))
                elif api == "openblas":
                    found.append(_Pin(info["filepath"], None, _symbol(lib, _affixed("openblas_get_num_threads")),
                                      _symbol(lib, _affixed("openblas_set_num_threads"))))
                elif api == "mkl":
                    found.append(_Pin(info["filepath"], _symbol(lib, ["MKL_Set_Num_Threads_Local",
                                                                      "mkl_set_num_threads_local"])))
                elif api == "blis":
                    found.append(_Pin(info["filepath"], None, _symbol(lib, ["bli_thread_get_num_threads"]),
                                      _symbol(lib, ["bli_thread_set_num_threads"])))
                else:  # pragma: no cover - a BLAS threadpoolctl knows but fastinit does not
                    found.append(_Pin(info["filepath"]))
            _PINS = found
        return _PINS


def _omp_local(lib):
    get, put = _symbol(lib, ["omp_get_max_threads"]), _symbol(lib, ["omp_set_num_threads"])
    if get is None or put is None:  # pragma: no cover
        return None

    def local(n):
        before = get()
        put(n)
        return before

    return local


@contextlib.contextmanager
def one_thread(*, outer=False):
    """Run BLAS calls on one BLAS thread while inside; restore the counts after.

    ``outer=True`` marks the top of one fastinit call, in the calling thread: process-wide
    counts are set to 1 there, under a lock (a second call waits), and restored on exit.
    The call's worker threads enter with ``outer=False`` (per-thread counts only).
    Re-entrant per thread.
    """
    if getattr(_LOCAL, "depth", 0):
        _LOCAL.depth += 1
        try:
            yield
        finally:
            _LOCAL.depth -= 1
        return
    local = [p for p in pins() if p.local is not None]
    shared = [p for p in pins() if p.get is not None and p.put is not None] if outer else []
    saved_local, saved_shared = [], []
    if shared:
        _GLOBAL_LOCK.acquire()
    _LOCAL.depth = 1
    try:
        for p in local:
            saved_local.append((p, p.local(1)))
        for p in shared:
            saved_shared.append((p, p.get()))
            p.put(1)
        yield
    finally:
        for p, n in reversed(saved_local):
            p.local(n)
        for p, n in reversed(saved_shared):
            p.put(n)
        _LOCAL.depth = 0
        if shared:
            _GLOBAL_LOCK.release()


def pinned(fn):
    """``fn`` run inside :func:`one_thread` (for the tasks a thread pool runs)."""

    def run(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return run
