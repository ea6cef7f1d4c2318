"""New CPU tensors for a whole model from one mapping backed by transparent huge pages.

Fresh memory costs a page fault on its first write: one per 4 KiB page (the kernel zeroes
the page and maps it), about as long as filling the page with random numbers, so a model
built in ``torch.empty`` memory spends as much time faulting as filling.  With
``madvise(MADV_HUGEPAGE)`` on a 2 MiB-aligned range a fault maps 2 MiB at once, 512 times
fewer faults.  torch's own allocator does that only when ``THP_MEM_ALLOC_ENABLE=1`` was set
before its first allocation (it is read once), so ``empty_many`` maps the memory itself:
one anonymous private mapping, its start rounded up to 2 MiB, advised for huge pages,
never touched here -- the first write of every byte is the fill's, on the thread that fills it.

Each tensor is its own storage (``torch.frombuffer`` of its byte range), exactly its size,
as ``torch.empty`` would give: ``torch.save`` of one tensor writes only its bytes,
safetensors and ``save_pretrained`` see no shared storage except real ties, optimizers,
``.to()``, ``share_memory_()`` and ``copy.deepcopy`` work as on any tensor.  The mapping is
unmapped when the last of its tensors is freed.  Unlike ``torch.empty``'s, the storages
cannot be resized in place (``untyped_storage().resize_``), as any ``torch.frombuffer``
storage; assigning ``param.data`` works.

Where Python's ``mmap`` has no anonymous private mappings (Windows), tensors come from
``torch.empty``; without ``MADV_HUGEPAGE`` (macOS), the mapping has the system's pages.
"""

import math
import mmap

import numpy as np
import torch

HUGE_PAGE = 2 << 20   # x86-64 and 4 KiB-page aarch64 transparent huge page
ALIGN = 64            # every tensor starts on a cache line, as torch's CPU allocator aligns


def _offsets(nbytes):
    """Start of each block of ``nbytes`` (a list) packed in order, each aligned to ``ALIGN``,
    and the total size."""
    at, starts = 0, []
    for n in nbytes:
        starts.append(at)
        at += -(-n // ALIGN) * ALIGN
    return starts, at


def _mapping(nbytes):
    """A writable memoryview of ``nbytes`` bytes of new anonymous memory starting on a
    ``HUGE_PAGE`` boundary and advised for huge pages; nothing is touched."""
    m = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    start = -np.frombuffer(m, np.uint8, count=1).ctypes.data % HUGE_PAGE   # the mapping's address, not a read
    if hasattr(mmap, "MADV_HUGEPAGE"):
        m.madvise(mmap.MADV_HUGEPAGE, start, nbytes)
    return memoryview(m)[start:start + nbytes]


def _mappable():
    return hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS")


def empty_many(specs):
    """New contiguous CPU tensors, uninitialized and untouched, one per ``(shape, dtype)`` in
    ``specs``, carved from one huge-page mapping (the module docstring says why and what
    differs from ``torch.empty``); empty tensors come from ``torch.empty``."""
    specs = [(tuple(shape), dtype) for shape, dtype in specs]
    sizes = [math.prod(shape) * dtype.itemsize for shape, dtype in specs]
    if not _mappable() or not any(sizes):
        return [torch.empty(shape, dtype=dtype) for shape, dtype in specs]
    starts, total = _offsets(sizes)
    memory = _mapping(total)
    out = []
    for (shape, dtype), at, n in zip(specs, starts, sizes):
        if n == 0:
            out.append(torch.empty(shape, dtype=dtype))
        else:
            out.append(torch.frombuffer(memory[at:at + n], dtype=dtype).view(shape))
    return out
