"""fastinit._memory.populate: the whole pages inside an array are mapped before any write,
its contents stay zeros, the pages it shares with neighbours are left alone."""

import mmap
import os

import numpy as np
import pytest

from fastinit import _memory

from ..conftest import smaps

PAGE = mmap.PAGESIZE


def _rss_of(address):
    """Resident bytes of the mapping holding ``address``."""
    return int(smaps(address)["Rss"].split()[0]) * 1024


def _supported():
    release = tuple(int(x) for x in os.uname().release.split(".")[:2] if x.isdigit())
    return os.path.exists("/proc/self/smaps") and release >= (5, 14)


@pytest.mark.skipif(not _supported(), reason="MADV_POPULATE_WRITE is Linux >= 5.14")
def test_populate_maps_the_whole_pages_inside_and_only_those():
    m = mmap.mmap(-1, 64 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_NOHUGEPAGE)                       # count 4 KiB pages, not a huge page
    whole = np.frombuffer(m, np.uint8)
    base = whole.ctypes.data
    assert _rss_of(base) == 0
    inside = whole[100:20 * PAGE + 5]                      # pages 1..19 lie wholly inside
    assert _memory.populate(inside)
    assert _rss_of(base) == 19 * PAGE
    assert not whole.any()                                 # mapped, still zeros
    assert not _memory.populate(whole[:0]) and not _memory.populate(whole[10:PAGE - 10])
    assert _rss_of(base) == 19 * PAGE
    del whole, inside
    m.close()
