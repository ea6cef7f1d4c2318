"""Optional dependencies: a missing one is a one-line message naming the extra to install.

The PyPI name ``fastinit`` belongs to another project: fastinit is distributed as
``fastinit-weights`` (pyproject.toml) and imported as ``fastinit``.
"""

import importlib

DISTRIBUTION = "fastinit-weights"


def install_hint(extra):
    """The command that installs ``extra``: ``pip install "fastinit-weights[torch]"``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def require(module, extra, feature):
    """Import and return ``module``; if it is missing, raise a ModuleNotFoundError that names
    ``feature`` (what needed it) and the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        if exc.name is not None and exc.name != module and not module.startswith(exc.name + "."):
            raise  # the library is there but one of its own dependencies is not: its error says which
        raise ModuleNotFoundError(f"{feature} needs {top}, which is not installed: {install_hint(extra)}",
                                  name=top) from None
