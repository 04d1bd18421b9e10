"""A small mutation check: one-line changes a developer could make by mistake, each run against
the tests that cover its module; a mutant the tests still pass is a hole in them.

Each mutant changes one expression of a function body in one target module (an arithmetic or
comparison operator swapped, a small integer constant moved by one, a sign dropped, ``and`` and
``or`` swapped, an index or slice bound moved by one); error messages, docstrings, ``raise`` and
``assert`` statements are left alone (a changed message is not a wrong number). The mutants are
drawn with a fixed seed, so two runs (before and after new tests) try the same ones. Every
mutant runs in a copy of the sources (``PYTHONPATH`` points there, for the tests' child
processes too) with ``pytest -x`` and a time limit; a failure or a timeout kills it::

    python bench/mutation_check.py --tests-root . --per-module 12 --json out.json
    python bench/mutation_check.py --tests-root /work/main --per-module 12   # the older tests

``--tests-root`` is the checkout whose tests run (the sources mutated are always this one's).
"""

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = ["src", "plugins/nn-fc/src", "plugins/nn-conv/src", "plugins/nn-torch/src", "plugins/tensorboard/src"]

# module -> the test files (relative to --tests-root) that cover it; new ones are skipped where absent
SURVIVORS = "tests/test_mutation_survivors.py"  # tests written for what this check found
KERNELS = ["tests/test_reference_kernels.py", "tests/test_kernel_overrides.py"]
# using a trained run: predict, evaluate and corenn.load, on a classification and on a regression
TRAINED = [
    "tests/test_predict.py",
    "tests/test_evaluate_and_runs.py",
    "tests/test_regression.py",
    "tests/test_own_data.py",
    "tests/test_trained_numbers.py",
    "tests/test_trained_edges.py",
    SURVIVORS,
]
TARGETS = {
    "plugins/nn-fc/src/corenn_fc/fully_connected.py": [
        "plugins/nn-fc/tests/test_fully_connected.py",
        "plugins/nn-fc/tests/test_gradients.py",
        "plugins/nn-fc/tests/test_fc_plugin.py",
        *KERNELS,
    ],
    "plugins/nn-fc/src/corenn_fc/activations.py": [
        "plugins/nn-fc/tests/test_activations.py",
        "plugins/nn-fc/tests/test_gradients.py",
        "plugins/nn-fc/tests/test_fc_plugin.py",
        *KERNELS,
        SURVIVORS,
    ],
    "plugins/nn-conv/src/corenn_conv/conv2d.py": [
        "plugins/nn-conv/tests/test_conv2d.py",
        "plugins/nn-conv/tests/test_geometry.py",
        "plugins/nn-conv/tests/test_conv_plugin.py",
        *KERNELS,
    ],
    "plugins/nn-conv/src/corenn_conv/pool2d.py": [
        "plugins/nn-conv/tests/test_pool2d.py",
        "plugins/nn-conv/tests/test_geometry.py",
        "plugins/nn-conv/tests/test_conv_plugin.py",
        *KERNELS,
        SURVIVORS,
    ],
    "src/corenn/nn/losses.py": ["tests/test_losses.py", "tests/test_label_smoothing.py", *KERNELS, SURVIVORS],
    "src/corenn/nn/optimizers.py": [
        "tests/test_optimizers.py",
        "tests/test_optimizer_options.py",
        "tests/test_optimizer_kernels.py",
        "tests/test_lr_scale.py",
        "tests/test_weight_decay.py",
        *KERNELS,
        SURVIVORS,
    ],
    "src/corenn/nn/schedulers.py": [
        "tests/test_schedulers.py",
        "tests/test_cosine_and_one_cycle.py",
        "tests/faults/test_recorded_learning_rates.py",
        SURVIVORS,
    ],
    "src/corenn/run/loop.py": [
        "tests/test_trainer.py",
        "tests/test_regression.py",
        "tests/test_step_losses.py",
        "tests/test_data_parallel_step.py",
        "tests/test_lr_scale.py",
        "tests/test_best_and_early_stopping.py",
        "tests/faults/test_recorded_learning_rates.py",
        SURVIVORS,
    ],
    "src/corenn/trained/load.py": [*TRAINED, "tests/test_train_from_arrays.py", "tests/faults/test_data_holes.py"],
    "src/corenn/trained/predict.py": TRAINED,
}

SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


def _skipped_lines(tree):
    """Lines of docstrings, raise and assert statements, and f-strings: messages, not numbers."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.Assert, ast.JoinedStr)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        ):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def mutants_of(path):
    """Every one-expression mutant of ``path``: ``(line, before, after, new source)``."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    skipped = _skipped_lines(tree)
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if (
                not hasattr(node, "lineno")
                or node.lineno != getattr(node, "end_lineno", None)
                or node.lineno in skipped
            ):
                continue
            for changed in _changes(node):
                line = lines[node.lineno - 1]
                start, end = node.col_offset, node.end_col_offset
                before = line[start:end]
                after = ast.unparse(changed)
                if before == after:
                    continue
                new_line = line[:start] + after + line[end:]
                new_source = "".join(lines[: node.lineno - 1]) + new_line + "".join(lines[node.lineno :])
                try:
                    ast.parse(new_source)
                except SyntaxError:
                    continue
                found.append((node.lineno, line.strip(), new_line.strip(), new_source))
    return found


def _copy(node):
    return ast.parse(ast.unparse(node), mode="eval").body


def _changes(node):
    if isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
        changed = _copy(node)
        changed.op = SWAPS[type(node.op)]()
        yield changed
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAPS:
        changed = _copy(node)
        changed.ops = [SWAPS[type(node.ops[0])]()]
        yield changed
    elif isinstance(node, ast.BoolOp) and type(node.op) in SWAPS:
        changed = _copy(node)
        changed.op = SWAPS[type(node.op)]()
        yield changed
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield _copy(node.operand)
    elif (
        isinstance(node, ast.Constant)
        and type(node.value) is int
        and 0 <= node.value <= 2
        or isinstance(node, ast.Constant)
        and type(node.value) is float
        and node.value in (0.5, 1.0, 2.0)
    ):
        yield ast.Constant(node.value + 1)


def run_mutant(relative, new_source, tests, tests_root, timeout):
    with tempfile.TemporaryDirectory(prefix="mutant-") as scratch:
        scratch = Path(scratch)
        paths = []
        for root in SOURCE_ROOTS:
            shutil.copytree(HERE / root, scratch / root, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            paths.append(str(scratch / root))
        (scratch / relative).write_text(new_source, encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1")
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        try:
            completed = subprocess.run(command, cwd=tests_root, env=env, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "killed (timeout)"
        return "survived" if completed.returncode == 0 else "killed"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests-root", default=str(HERE))
    parser.add_argument("--per-module", type=int, default=10)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--only", help="run only the modules whose path holds this text")
    parser.add_argument("--json", help="write every mutant's outcome to this file")
    args = parser.parse_args()
    tests_root = Path(args.tests_root).resolve()
    outcomes = []
    for relative, test_files in TARGETS.items():
        if args.only and args.only not in relative:
            continue
        tests = [test for test in test_files if (tests_root / test).is_file()]
        source = (HERE / relative).read_text(encoding="utf-8")
        if run_mutant(relative, source, tests, tests_root, args.timeout) != "survived":
            print(f"skipped {relative}: its tests fail without any mutant", flush=True)
            continue
        mutants = mutants_of(HERE / relative)
        chosen = random.Random(f"{args.seed}|{relative}").sample(mutants, min(args.per_module, len(mutants)))
        for line, before, after, source in chosen:
            started = time.monotonic()
            outcome = run_mutant(relative, source, tests, tests_root, args.timeout)
            row = {"module": relative, "line": line, "before": before, "after": after, "outcome": outcome}
            outcomes.append(row)
            print(
                f"{outcome:<17} {relative}:{line}  {before}  ->  {after}  ({time.monotonic() - started:.0f}s)",
                flush=True,
            )
    killed = sum(row["outcome"].startswith("killed") for row in outcomes)
    print(f"killed {killed} of {len(outcomes)} mutants ({killed / max(1, len(outcomes)):.1%})")
    if args.json:
        Path(args.json).write_text(json.dumps(outcomes, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
