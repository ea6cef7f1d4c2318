"""Fit the float32 inverse normal CDF's polynomials (csrc/fimath.h: NDTRI32_*).

The float32 truncated normal computes Phi^-1(1/2 + q) = q R(w) with w = -log(1 - 4 q^2), the
variable of Giles' erfinv (M. Giles, "Approximating the erfinv function", GPU Computing Gems
Jade Edition, 2011): 1 - 4 q^2 = 4 p (1 - p) comes from the smaller tail probability p, so it
keeps its relative precision far into either tail.  R is one function of w, approximated by
three polynomials: in v = w - 2.5 for w < 5 (the centre: p > 0.0017), and in v = sqrt(w) - c
on sqrt(w) in [sqrt 5, 4] (c = 3.125) and [4, 9.28] (c = 6.625; w = 86 is p = 1.2e-38, the
smallest normal float32).  Each is a degree-9 near-minimax fit of the relative error
(Lawson's iteratively reweighted least squares on Chebyshev nodes, against SciPy's float64
ndtri), then expanded around c and rounded to float32.  Run: python tools/fit_ndtri32.py
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


if __name__ == "__main__":
    for name, to_w, lo, hi, centre in PIECES:
        coef, err = fit(to_w, lo, hi, centre)
        print(f"/* {name}: t in [{lo:.6g}, {hi:.6g}], fit's relative error {err:.2e} */")
        print(f"static const float NDTRI32_{name}[{DEGREE + 1}] = {{"
              + ", ".join(f"{float(np.float32(c))!r}f" for c in coef) + "};")
