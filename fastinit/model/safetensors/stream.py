"""The data region of one file written front to back, in chunks, by a writer thread.

The schemes fill a chunk buffer in place; a full chunk goes to a writer thread that hashes
it (``before_write``), sends it to disk with ``O_DIRECT`` (no page cache, no page faults, no
second copy) and fdatasyncs, while the cores compute the next.  Resident memory is two
chunks, whatever the model's size.
"""

import errno
import mmap
import os
import queue
import threading

from .format import ALIGN

CHUNK = 32 << 20              # bytes per write; two chunk buffers are in flight


def _buffer(nbytes):
    """Page-aligned anonymous memory (O_DIRECT needs aligned buffers)."""
    return mmap.mmap(-1, max(nbytes, mmap.PAGESIZE))


class Stream:
    """``pieces`` hands out the current chunk buffer; a full chunk goes to the writer thread
    (``os.pwrite``, ``O_DIRECT`` where the file system allows it) while the next one is
    filled.  On the writer thread, ``before_write(view, begin)`` sees each chunk's bytes
    (data offset ``begin``) before they are written, and ``done(end)`` is called once the
    bytes before data offset ``end`` are on disk (fdatasync'ed if ``sync``).  A writer error
    is raised by the next ``pieces`` step or by ``close``."""

    def __init__(self, path, fd, data_start, start, size, sync, done, before_write=None):
        self.fd, self.data_start, self.size, self.sync, self.done = fd, data_start, size, sync, done
        self.before_write = before_write
        self.chunk = CHUNK
        try:
            self.direct = os.open(path, os.O_WRONLY | getattr(os, "O_DIRECT", 0))
        except OSError:                # a file system without O_DIRECT (tmpfs): through the page cache
            self.direct = os.open(path, os.O_WRONLY)
        self.buffers = [_buffer(self.chunk), _buffer(self.chunk)]
        self.free = queue.Queue()
        for b in self.buffers:
            self.free.put(b)
        self.jobs = queue.Queue()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="fastinit-write", daemon=True)
        self.thread.start()
        self.begin = start             # data offset of the current buffer's first byte
        self.used = 0                  # bytes of the current buffer filled
        self.buf = self.free.get()

    def _write(self, buf, begin, n):
        offset, view = self.data_start + begin, memoryview(buf)[:n]
        head = n - n % ALIGN           # O_DIRECT writes whole blocks; the file's last bytes go plainly
        try:
            if head:
                self._pwrite(self.direct, view[:head], offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            os.close(self.direct)      # the file system refused O_DIRECT after all
            self.direct = os.open(os.path.join("/proc/self/fd", str(self.fd)), os.O_WRONLY)
            self._pwrite(self.direct, view[:head], offset)
        if n > head:
            self._pwrite(self.fd, view[head:n], offset + head)
        view.release()

    @staticmethod
    def _pwrite(fd, view, offset):
        while len(view):
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    def _run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            buf, begin, n = job
            try:
                if self.error is None:
                    if self.before_write:
                        with memoryview(buf) as view:
                            self.before_write(view[:n], begin)
                    self._write(buf, begin, n)
                    if self.sync:
                        os.fdatasync(self.fd)
                    self.done(begin + n)
            except BaseException as exc:  # noqa: BLE001 (raised on the caller's thread)
                self.error = exc
            finally:
                self.free.put(buf)

    def _check(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _submit(self):
        self.jobs.put((self.buf, self.begin, self.used))
        self.begin += self.used
        self.used = 0
        self.buf = self.free.get()
        self._check()

    def pieces(self, begin, end):
        """``(chunk memoryview, data offset)`` pieces covering ``[begin, end)``, which must start
        where the last one ended; a piece counts as filled when the caller asks for the next
        (or the generator ends), so bytes of an interrupted fill are never written."""
        assert begin == self.begin + self.used, "pieces must be requested in order"
        while begin < end:
            if self.used == self.chunk:
                self._submit()
            n = min(end - begin, self.chunk - self.used)
            yield memoryview(self.buf)[self.used:self.used + n], begin
            self.used += n
            begin += n

    def close(self, complete):
        """Write what is buffered (if ``complete``: an interrupted fill writes nothing more),
        wait for the writer; raise its error, if any."""
        try:
            if complete and self.used and self.error is None:
                self._submit()
        finally:
            self.jobs.put(None)
            self.thread.join()
            os.close(self.direct)
            for b in self.buffers:
                try:
                    b.close()
                except BufferError:    # a view is still held by an interrupted fill's traceback:
                    pass               # the memory goes with it
        self._check()
