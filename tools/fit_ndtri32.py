"""Fit the float32 inverse normal CDF's polynomials (csrc/fimath.h: NDTRI32_*) and the table of
its logarithm (LOGT_*).

The float32 truncated normal computes Phi^-1(1/2 + q) = q R(w) with w = -log(1 - 4 q^2), the
variable of Giles' erfinv (M. Giles, "Approximating the erfinv function", GPU Computing Gems
Jade Edition, 2011): 1 - 4 q^2 = 4 p (1 - p) comes from the smaller tail probability p, so it
keeps its relative precision far into either tail.  R is one function of w, approximated by
three polynomials: in v = w - 2.5 for w < 5 (the centre: p > 0.0017), and in v = sqrt(w) - c
on sqrt(w) in [sqrt 5, 4] (c = 3.125) and [4, 9.28] (c = 6.625; w = 86 is p = 1.2e-38, the
smallest normal float32).  Each is a degree-9 near-minimax fit of the relative error
(Lawson's iteratively reweighted least squares on Chebyshev nodes, against SciPy's float64
ndtri), then expanded around c and rounded to float32.

The log (logtf) reduces x = 2^k z, z in [0.7, 1.4), by a 16-entry table as Szabolcs Nagy's logf
(ARM optimized-routines, glibc 2.28): entry i covers the z whose top 4 fraction bits (after
subtracting 0x3f330000 from the bits) are i; 1/c_i is rounded to float32 (c_i the geometric
centre of the entry's range, exactly 1 for the entry holding 1) and log(c_i) is -log of that
float32, rounded; r = z (1/c_i) - 1 stays within 0.0301, where log1p(r) - r = r^2 (A0 + A1 r +
A2 r^2) is a least-squares fit in the Chebyshev basis.  Run: python tools/fit_ndtri32.py
"""

import numpy as np
from numpy.polynomial import chebyshev, polynomial
from scipy.special import ndtri

DEGREE = 9
PIECES = (  # (name, variable -> w, lower end, upper end, centre c of v = variable - c)
    ("CENTRAL", lambda t: t, 0.0, 5.0, 2.5),
    ("TAIL_MID", lambda t: t * t, np.sqrt(5.0), 4.0, 3.125),
    ("TAIL_FAR", lambda t: t * t, 4.0, 9.28, 6.625),
)


def r_of_w(w):
    """R(w) = Phi^-1(1/2 + q) / q with 1 - 4 q^2 = exp(-w), in float64 without cancellation."""
    w = np.maximum(w, 1e-8)  # R(0) = sqrt(2 pi); at w = 1e-8 it is within 1e-9 of that
    p = np.exp(-w) / (2.0 * (1.0 + np.sqrt(-np.expm1(-w))))  # 1/2 - q
    return -ndtri(p) / (0.5 - p)


def fit(to_w, lo, hi, centre, nodes=20000, rounds=60):
    """Monomial coefficients (highest degree first) of the fit in v = t - centre, t in [lo, hi]."""
    x = np.cos(np.linspace(0.0, np.pi, nodes))
    t = lo + (x + 1.0) * (hi - lo) / 2.0
    f = r_of_w(to_w(t))
    weights = np.full(nodes, 1.0 / nodes)
    for _ in range(rounds):  # Lawson: weights grow where the relative error is largest
        a = chebyshev.chebvander(x, DEGREE) / f[:, None] * np.sqrt(weights)[:, None]
        c, *_ = np.linalg.lstsq(a, np.sqrt(weights), rcond=None)
        err = np.abs(chebyshev.chebval(x, c) / f - 1.0)
        weights *= err
        weights /= weights.sum()
    # x = (t - mid) / half = (v + centre - mid) / half: compose, then expand in v
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    p = chebyshev.cheb2poly(c)
    v_poly = polynomial.Polynomial([0.0])
    arg = polynomial.Polynomial([(centre - mid) / half, 1.0 / half])
    for k in reversed(range(len(p))):
        v_poly = v_poly * arg + p[k]
    return v_poly.coef[::-1], err.max()


LOGT_OFFSET = 0x3F330000


def log_table():
    """(1/c_i, -log(1/c_i), |r| bound) of the 16 entries, float32 values."""
    invc, logc, rmax = [], [], 0.0
    for i in range(16):
        zlo, zhi = (float(np.uint32(LOGT_OFFSET + (j << 19)).view(np.float32)) for j in (i, i + 1))
        c = 1.0 if zlo <= 1.0 < zhi else np.sqrt(zlo * zhi)
        ic = np.float32(1.0 / c)
        invc.append(ic)
        logc.append(np.float32(-np.log(np.float64(ic))) + np.float32(0.0))  # -0.0 -> 0.0
        rmax = max(rmax, abs(zlo * float(ic) - 1.0), abs(zhi * float(ic) - 1.0))
    return invc, logc, rmax


def log1p_fit(rmax, degree=2):
    """A0.. of log1p(r) - r = r^2 (A0 + A1 r + ...) on |r| <= rmax, rounded to float32."""
    r = np.cos(np.linspace(0.0, np.pi, 4001)) * rmax
    f = np.where(np.abs(r) < 1e-6, -0.5 + r / 3.0, (np.log1p(r) - r) / np.where(r == 0, 1.0, r) ** 2)
    return np.float32(chebyshev.Chebyshev.fit(r, f, degree).convert(kind=polynomial.Polynomial).coef)


if __name__ == "__main__":
    invc, logc, rmax = log_table()
    print(f"/* LOGT: |r| <= {rmax:.4f} */")
    print("static const float LOGT_INVC[16] = {" + ", ".join(f"{float(v)!r}f" for v in invc) + "};")
    print("static const float LOGT_LOGC[16] = {" + ", ".join(f"{float(v)!r}f" for v in logc) + "};")
    print("static const double LOGT_A[3] = {" + ", ".join(f"{float(v)!r}" for v in log1p_fit(rmax)) + "};")
    for name, to_w, lo, hi, centre in PIECES:
        coef, err = fit(to_w, lo, hi, centre)
        print(f"/* {name}: t in [{lo:.6g}, {hi:.6g}], fit's relative error {err:.2e} */")
        print(f"static const float NDTRI32_{name}[{DEGREE + 1}] = {{"
              + ", ".join(f"{float(np.float32(c))!r}f" for c in coef) + "};")
