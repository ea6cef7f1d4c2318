"""cffi out-of-line API build of the C kernels (csrc/), run by setuptools via ``cffi_modules``.

Flags: -O3 vectorizes the planar 16-lane loops; -ffp-contract=off keeps every
``a*b + c`` two roundings, as in the Numba twins; -fno-math-errno and
-fno-trapping-math let sqrt and selects vectorize without changing any result.
No -march: csrc/fill.c compiles baseline, AVX2, AVX-512 and AVX-512+BF16 copies, csrc/dispatch.c
picks one at run time, so the build runs on any x86-64 CPU.  FASTINIT_CFLAGS adds compiler flags,
FASTINIT_LDFLAGS linker flags (``make sanitize``: -fsanitize=address,undefined).
"""

import os
from pathlib import Path

from cffi import FFI

CSRC = Path("csrc")
HEADER = (Path(__file__).resolve().parents[2] / CSRC / "fastinit.h").read_text()

ffi = FFI()
# cdef takes the header minus its include guard and includes
ffi.cdef("\n".join(line for line in HEADER.splitlines()
                   if not line.startswith(("#ifndef", "#endif", "#include", "#define FASTINIT_H"))))
ffi.set_source(
    "fastinit.kernels._cfill",
    '#include "fastinit.h"',
    sources=[str(CSRC / name) for name in ("dispatch.c", "fill.c", "sparse.c")],
    include_dirs=[str(CSRC)],
    depends=[str(CSRC / name) for name in ("fastinit.h", "dispatch.h", "fitables.h", "philox.h", "philox_x86.h",
                                            "simd.h", "fill_impl.h", "fimath.h", "transforms.h", "dense.h",
                                            "masked.h", "sparse_x86.h", "target_end.h")],
    libraries=["m"],  # fmaf, for the baseline target (no FMA instruction)
    extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
                        "-std=gnu11", *os.environ.get("FASTINIT_CFLAGS", "").split()],
    extra_link_args=os.environ.get("FASTINIT_LDFLAGS", "").split(),
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
