"""New CPU tensors for a whole model from one mapping backed by transparent huge pages.

Fresh memory costs a page fault on its first write: one per 4 KiB page (the kernel zeroes
the page and maps it), about as long as filling the page with random numbers, so a model
built in ``torch.empty`` memory spends as much time faulting as filling.  With
``madvise(MADV_HUGEPAGE)`` on a 2 MiB-aligned range a fault maps 2 MiB at once, 512 times
fewer faults.  torch's own allocator does that only when ``THP_MEM_ALLOC_ENABLE=1`` was set
before its first allocation (it is read once), so ``empty_many`` maps the memory itself:
one anonymous private mapping, its start rounded up to 2 MiB, advised for huge pages,
never touched here -- the first write of every byte is the fill's, on the thread that fills it.

Except under a hypervisor that takes free memory back (a virtio balloon with free page
reporting, ``VIRTIO_BALLOON_F_REPORTING``, as Firecracker-style microVMs have): the guest
reports its larger free blocks to the host (128 KiB and up on the VM measured, at most
2 MiB by default), which drops them, so every huge page is memory the host must fault in
again, one 4 KiB host page at a time, while 4 KiB guest pages come first from small free
blocks the host still backs.  Measured on such a VM
(2.47 GB, 2 threads, a fresh process each): first touch with huge pages 3.1-4.8 CPU
seconds of page faults, with 4 KiB pages 1.0-3.6; where the host keeps the memory (the
same VM, memory just freed) 0.2-0.4 against 1.5-1.8.  So ``huge_pages_help()`` is False
there, and the mapping keeps the system's pages.

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

import functools
import glob
import math
import mmap
import os

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


def _free_page_reporting(root="/sys/bus/virtio/devices"):
    """Whether a virtio balloon device (id 5) with feature bit 5 (free page reporting) is
    bound here: the host then drops the memory this guest frees."""
    for dev in glob.glob(os.path.join(root, "*")):
        try:
            with open(os.path.join(dev, "device")) as f:
                device = int(f.read(), 16)
            with open(os.path.join(dev, "features")) as f:
                features = f.read().strip()
        except (OSError, ValueError):
            continue
        if device == 5 and len(features) > 5 and features[5] == "1":
            return True
    return False


@functools.cache
def huge_pages_help():
    """Whether to advise new mappings for transparent huge pages: where the call exists
    (Linux), unless the host takes freed memory back (``_free_page_reporting``; the module
    docstring gives the measurements)."""
    return hasattr(mmap, "MADV_HUGEPAGE") and not _free_page_reporting()


def _mapping(nbytes, huge=None):
    """A writable memoryview of ``nbytes`` bytes of new anonymous memory starting on a
    ``HUGE_PAGE`` boundary, advised for huge pages if ``huge`` (None: ``huge_pages_help()``);
    nothing is touched."""
    m = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    start = -np.frombuffer(m, np.uint8, count=1).ctypes.data % HUGE_PAGE   # the mapping's address, not a read
    if huge_pages_help() if huge is None else huge:
        m.madvise(mmap.MADV_HUGEPAGE, start, nbytes)
    return memoryview(m)[start:start + nbytes]


def _mappable():
    return hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS")


def empty_many(specs, huge=None):
    """New contiguous CPU tensors, uninitialized and untouched, one per ``(shape, dtype)`` in
    ``specs``, carved from one mapping, in huge pages if ``huge`` (None: where they help,
    ``huge_pages_help()``); the module docstring says why and what differs from
    ``torch.empty``.  Empty tensors come from ``torch.empty``."""
    specs = [(tuple(shape), dtype) for shape, dtype in specs]
    sizes = [math.prod(shape) * dtype.itemsize for shape, dtype in specs]
    if not _mappable() or not any(sizes):
        return [torch.empty(shape, dtype=dtype) for shape, dtype in specs]
    starts, total = _offsets(sizes)
    memory = _mapping(total, huge)
    out = []
    for (shape, dtype), at, n in zip(specs, starts, sizes):
        if n == 0:
            out.append(torch.empty(shape, dtype=dtype))
        else:
            out.append(torch.frombuffer(memory[at:at + n], dtype=dtype).view(shape))
    return out
