"""``corenn kernels``: each declared kernel, where its reference is, and what each backend runs."""

import json

from suite_helpers import run_command


def test_the_table_names_each_kernel_its_reference_and_what_numpy_runs(capsys):
    code, out, _ = run_command(capsys, "kernels", "--backend", "numpy")
    assert code == 0
    lines = out.splitlines()
    (forward,) = [index for index, line in enumerate(lines) if line.startswith("fully_connected_forward ")]
    assert "corenn_fc/fully_connected.py:" in lines[forward] and "(corenn-fc)" in lines[forward]
    assert lines[forward + 1].split() == ["numpy", "the", "reference"]
    assert lines[-1].endswith("corenn train --kernels reference runs the references alone.")


def test_json_gives_the_declaration_file_line_and_implementations(capsys):
    code, out, _ = run_command(capsys, "kernels", "--backend", "numpy", "--json")
    assert code == 0
    rows = {row["kernel"]: row for row in json.loads(out)}
    row = rows["fully_connected_backward"]
    assert row["declared_in"] == "corenn_fc.fully_connected:fully_connected_backward"
    assert row["backends"] == {"numpy": "reference"}
    path, _, line = row["reference"].rpartition(":")
    assert path == "corenn_fc/fully_connected.py"
    with open(row["file"], encoding="utf-8") as source:
        declaration = source.read().splitlines()[int(line) - 1 :][:2]
    assert "fully_connected_backward" in "".join(declaration)


def test_an_unknown_backend_is_one_line(capsys):
    code, _, err = run_command(capsys, "kernels", "--backend", "jax")
    assert code == 1
    assert err.strip() == "corenn kernels: error: unknown backend 'jax'; installed backends: numpy" or err.startswith(
        "corenn kernels: error: unknown backend 'jax'; installed backends: numpy, "
    )
