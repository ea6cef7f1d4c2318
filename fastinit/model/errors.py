"""Typed errors of the model-file layer.

Each names the file it is about (``.path``) and says what is wrong and what to do, in the
library's terms; only ``fastinit.cli`` knows the command-line flags that do it, and adds them.
All are ``ValueError`` subclasses: the file or the request is bad; raised before anything is
written, unless the message says what was.
"""


class FileError(ValueError):
    """A model file (or output directory) that cannot be used as asked; ``str`` starts with its path."""

    def __init__(self, path, message):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class OutputExists(FileError):
    """The output already holds a model or an interrupted fill; the call would replace it."""


class ForeignFiles(OutputExists):
    """Files this fill would write are there, and no fill recorded in the directory wrote them."""


class OtherFormat(FileError):
    """The output holds a model (or an interrupted fill) of the other file format, which a fill
    never removes: the directory would hold two models and ``verify`` could check the stale one."""


class ResumeMismatch(FileError):
    """Resuming was asked, but the interrupted fill was of another spec; ``.differences`` say how."""

    def __init__(self, path, differences):
        self.differences = list(differences)
        super().__init__(path, "the interrupted fill differs from this one: " + "; ".join(self.differences))


class Locked(FileError):
    """Another process is filling the same output (``.pid``, if known)."""

    def __init__(self, path, pid):
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(path, f"{who} is filling this output now; wait for it to finish or stop it")


class Incomplete(FileError):
    """A ``.partial`` file: an interrupted or failed fill, to be resumed or redone."""


class CorruptFile(FileError):
    """A file that is not a valid safetensors file (or model index); never read further."""
