"""What every scheme shares: the common keywords, the global shape, validation.

Random schemes hand ``seed``/``stream``/``global_shape``/``offset``/``backend``/
``threads`` to a core fill, which validates them before writing.  Deterministic schemes
(eye_, dirac_, constants, ...) take the same keywords, so the registry can call every
scheme alike; they validate them here (``seed`` is optional for them, checked when given)
before touching ``out``.
"""


from .._validate import check_common, check_out, keywords_of as forwards, shard  # noqa: F401 (for the schemes)

# the keywords every scheme takes, in the order the core fills declare them
COMMON = ("seed", "stream", "global_shape", "offset", "backend", "threads")


def global_shape_of(out, global_shape):
    """The shape of the whole tensor ``out`` belongs to: ``global_shape`` if given, else out's.

    Checks ``out`` as a destination first, so a bad buffer is reported before its shape is used.
    """
    check_out(out)
    if global_shape is None:
        return tuple(out.shape)
    from .._validate import shape_tuple
    return shape_tuple(global_shape, "global_shape", out.ndim)
