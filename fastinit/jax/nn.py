"""``jax.nn`` with fastinit's initializers: ``from fastinit.jax import nn`` in place of ``from jax import nn``.

Every name of ``jax.nn`` (activations, ``dot_product_attention``, ...) is JAX's own object;
only ``nn.initializers`` is :mod:`fastinit.jax.initializers`, so code written against
``jax.nn.initializers`` runs unchanged on fastinit's kernels.
"""

import jax.nn as _jax_nn

from . import initializers

globals().update({name: getattr(_jax_nn, name) for name in dir(_jax_nn)
                  if not name.startswith("_") and name != "initializers"})

__all__ = sorted(name for name in dir(_jax_nn) if not name.startswith("_"))
