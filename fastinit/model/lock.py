"""One writer per output directory: an exclusive advisory lock on ``DIR/.fastinit.lock``.

``flock`` locks belong to the open file description, so the kernel drops them when the
holder exits for any reason, SIGKILL included: a lock file left behind by a killed fill is
stale and the next fill takes it.  The holder writes its pid into the file so a refused
writer can name it, and unlinks the file before unlocking; a writer that locked a file
since unlinked (it opened it just before) sees that its inode is no longer the path's and
tries again -- the usual lock-file protocol, so two writers never both hold a lock.
"""

import fcntl
import os

from .errors import Locked

NAME = ".fastinit.lock"


class DirectoryLock:
    """``with DirectoryLock(directory):`` -- raises ``Locked`` at once if another process holds it."""

    def __init__(self, directory):
        self.path = os.path.join(os.fspath(directory), NAME)
        self.fd = None

    def acquire(self):
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
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
