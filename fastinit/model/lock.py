"""One writer per output directory: an exclusive advisory lock on ``DIR/.fastinit.lock``.

``flock`` locks belong to the open file description, so the kernel drops them when the
holder exits for any reason, SIGKILL included: a lock file left behind by a killed fill is
stale and the next fill takes it.  The holder writes its pid into the file so a refused
writer can name it, and unlinks the file before unlocking; a writer that locked a file
since unlinked (it opened it just before) sees that its inode is no longer the path's and
tries again -- the usual lock-file protocol, so two writers never both hold a lock.
``holder`` (used by ``verify`` to say a fill is running) probes with a shared lock, so a
writer that finds the lock taken tries again briefly before it gives up.
"""

import fcntl
import os
import time

from .errors import Locked

NAME = ".fastinit.lock"


def file_lock_name(filename):
    """The lock of one file of a sharded fill (``.fastinit.<file>.lock``): processes filling
    different shards of one directory hold different locks."""
    return f".fastinit.{filename}.lock"


def holder(directory, name=NAME):
    """The pid of the process filling ``directory`` now (0 if it is not known yet), or None;
    ``name``: another lock file in it (``file_lock_name``)."""
    path = os.path.join(os.fspath(directory), name)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(pid) if pid.isdigit() else 0
    finally:
        os.close(fd)                      # drops the shared lock, if taken
    return None


class DirectoryLock:
    """``with DirectoryLock(directory):`` -- raises ``Locked`` at once if another process holds it."""

    def __init__(self, directory, name=NAME):
        self.path = os.path.join(os.fspath(directory), name)
        self.fd = None

    def acquire(self):
        tries = 0
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                tries += 1
                if tries < 4:             # ``holder`` (verify) holds it for microseconds: not a writer
                    time.sleep(0.02)
                    continue
                raise Locked(os.path.dirname(self.path), int(pid) if pid.isdigit() else None) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)                  # unlinked by its last holder after we opened it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self.fd)             # closing drops the lock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
