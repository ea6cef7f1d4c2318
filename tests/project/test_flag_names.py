"""Only the command line knows its flag names: the library's messages say what was wrong in
its own terms (``max_shard_size``), and ``fastinit.cli`` words them for the terminal."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "fastinit"
COMMAND_LINE = {"cli.py", "cli_signal.py", "__main__.py"}
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def flags_in(source):
    """(line, flag) of every flag name in the code's strings (docstrings aside: they may tell
    which command-line option a parameter stands for)."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, flag) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            for flag in FLAG.findall(node.value)]


def test_flags_in_finds_a_flag_in_a_message_not_in_a_docstring():
    source = 'def f():\n    """Like --dtype."""\n    raise ValueError(f"{x}: needs --max-shard-size")\n'
    assert flags_in(source) == [(3, "--max-shard-size")]


def test_only_the_command_line_names_its_flags():
    found = {str(path.relative_to(PACKAGE.parent)): flags
             for path in sorted(PACKAGE.rglob("*.py")) if path.name not in COMMAND_LINE
             for flags in [flags_in(path.read_text())] if flags}
    found = {path: [flag for _, flag in flags] for path, flags in found.items()}
    assert found == {}
