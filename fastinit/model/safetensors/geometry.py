"""A run of a tensor's flat elements as the boxes the shard fills take (``global_shape``/``offset``)."""

import math


def flat_boxes(shape, e0, e1):
    """The boxes ``(offset, block_shape)`` that cover the flat elements ``[e0, e1)`` of a C-ordered
    tensor of ``shape``, in order: a partial first row, whole rows, a partial last row, each
    partial row split the same way one dimension down."""
    if e0 >= e1:
        return []
    if not shape:
        return [((), ())]
    inner = math.prod(shape[1:])
    r0, r1 = e0 // inner, e1 // inner
    if r0 == r1 or (r1 == r0 + 1 and e1 % inner == 0 and e0 % inner):
        if e0 % inner == 0 and e1 - e0 == inner:
            return [((r0,) + (0,) * (len(shape) - 1), (1,) + tuple(shape[1:]))]
        return [((r0,) + off, (1,) + blk) for off, blk in flat_boxes(shape[1:], e0 - r0 * inner, e1 - r0 * inner)]
    boxes = []
    if e0 % inner:
        boxes += flat_boxes(shape, e0, (r0 + 1) * inner)
        r0 += 1
    if r1 > r0:
        boxes.append(((r0,) + (0,) * (len(shape) - 1), (r1 - r0,) + tuple(shape[1:])))
    if e1 % inner:
        boxes += flat_boxes(shape, r1 * inner, e1)
    return boxes


def fill_range(t, seed, e0, e1, out, threads):
    """Elements ``[e0, e1)`` of tensor ``t`` (flat) into the 1-D array ``out``, by the shard path."""
    if e0 == 0 and e1 == t.numel:
        t.fill(out.reshape(t.shape), seed, threads=threads)
        return
    at = 0
    for offset, block in flat_boxes(t.shape, e0, e1):
        n = math.prod(block)
        t.fill(out[at:at + n].reshape(block), seed, global_shape=t.shape, offset=offset, threads=threads)
        at += n
