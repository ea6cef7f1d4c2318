"""C -= A @ B straight into a strided view, through the BLAS that SciPy ships.

NumPy's ``matmul`` cannot accumulate into its output, so ``C -= A @ B`` costs a temporary
and an extra pass over ``C``.  BLAS ``xGEMM`` does it in place (beta = 1) and takes any
leading dimension, so ``C`` may be a slab of a larger row-major matrix.  The Fortran
routine is reached through ``scipy.linalg.cython_blas``'s exported function pointers and
called with cffi (which releases the GIL).  Row-major ``C = C - op(A) B`` is the
column-major ``C^T = C^T - B^T op(A)^T``: no array is transposed or copied.
"""

import ctypes

import numpy as np
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
