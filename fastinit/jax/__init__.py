"""JAX front end: ``fastinit.jax.initializers`` are ``jax.nn.initializers`` with fastinit's numbers.

``init = fastinit.jax.initializers.<name>(..., stream=...)`` has JAX's factory signature
and returns ``init(key, shape, dtype)``; the key's data becomes fastinit's seed
(:func:`key_seed`: ``(k0 << 32) | k1`` for JAX's default threefry keys), so the array
equals what fastinit writes into a NumPy array with that seed and stream.  Works eagerly
(zero copy on the CPU), under ``jax.jit``/``vmap`` (``jax.pure_callback``) and as a Flax
``kernel_init``.  docs/jax.md has the rules.

>>> import jax, fastinit.jax
>>> w = fastinit.jax.initializers.he_normal(stream="conv1.kernel")(jax.random.key(0), (3, 3, 64, 128))
"""

from .._extras import require

require("jax", "jax", "fastinit.jax")

from . import initializers, nn
from .initializers import key_seed

__all__ = ["initializers", "key_seed", "nn"]
