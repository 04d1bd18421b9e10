"""Lines of code per package: non-blank lines that are neither docstrings nor comments.

Run from a checkout (``python bench/code_lines.py``, or ``--root`` another checkout) to compare
two versions of corenn: one row per package (``src/corenn`` and each plugin's ``src``), with
its modules and lines. Tests and benchmarks are not counted.
"""

import argparse
import ast
import io
import tokenize
from pathlib import Path

PACKAGES = (
    ("corenn", "src/corenn"),
    ("corenn-fc", "plugins/nn-fc/src"),
    ("corenn-conv", "plugins/nn-conv/src"),
    ("corenn-torch", "plugins/nn-torch/src"),
    ("corenn-tensorboard", "plugins/tensorboard/src"),
    ("corenn-example-plugin", "examples/corenn-example-plugin/src"),
)


def code_lines(source):
    """The numbers of the lines of ``source`` that hold code: not blank, not only a comment,
    not inside a docstring (of a module, class or function)."""
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstring_lines.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            continue
        if token.type == tokenize.ENDMARKER:
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstring_lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    total_modules = total_lines = 0
    print(f"{'package':<24} {'modules':>7} {'code lines':>10}")
    for name, folder in PACKAGES:
        files = sorted((args.root / folder).rglob("*.py"))
        files = [path for path in files if "egg-info" not in str(path)]
        lines = sum(len(code_lines(path.read_text(encoding="utf-8"))) for path in files)
        total_modules += len(files)
        total_lines += lines
        print(f"{name:<24} {len(files):>7} {lines:>10}")
    print(f"{'all':<24} {total_modules:>7} {total_lines:>10}")


if __name__ == "__main__":
    main()
