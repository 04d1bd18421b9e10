"""Deeply nested configs: residual blocks inside residual blocks train in time linear in the
depth, and nesting past the documented bounds is refused up front with one line."""

import time

from corenn.nn.composite import MAX_NESTING_DEPTH
from corenn.run.config import MAX_CONFIG_NESTING
from corenn.run.train import train

from faultkit import one_line_error, run_corenn, write_config


def nested_residual_config(depth, epochs=1):
    """Iris through ``depth`` residual blocks, each holding the next; the innermost holds one
    fully_connected layer (the shape of the attack: a few hundred bytes of TOML)."""
    inner = '{name = "fully_connected", n_out = 8, activation = "tanh"}'
    for _ in range(depth - 1):
        inner = f'{{name = "residual", activation = "linear", layers = [{inner}]}}'
    return f"""\
name = "nested-{depth}"
epochs = {epochs}
[dataset]
name = "iris"
batch_size = 16
[optimizer]
name = "sgd"
lr = 0.01
[[layers]]
name = "fully_connected"
n_out = 8
activation = "tanh"
[[layers]]
name = "residual"
activation = "linear"
layers = [{inner}]
[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""


def seconds_per_epoch(tmp_path, depth, epochs=3):
    path = write_config(tmp_path, nested_residual_config(depth, epochs), name=f"nested-{depth}.toml")
    started = time.perf_counter()
    train(path, record=False, verbose=False)
    return (time.perf_counter() - started) / epochs


def test_nested_residual_blocks_train_in_time_linear_in_depth(tmp_path):
    """Before the fix each level read its inner table three times per access: depth 10 took
    4 s per epoch and every further level doubled it, so depth 20 would take over an hour."""
    depth_10 = seconds_per_epoch(tmp_path, 10)
    depth_20 = seconds_per_epoch(tmp_path, 20)
    assert depth_20 < 5.0, f"depth 20: {depth_20:.2f} s per epoch"
    assert depth_20 < 4 * depth_10 + 0.5, f"depth 10: {depth_10:.3f} s, depth 20: {depth_20:.3f} s per epoch"


def test_nesting_at_the_bound_trains_and_one_past_it_is_one_line(tmp_path):
    at_bound = write_config(tmp_path, nested_residual_config(MAX_NESTING_DEPTH - 1), name="at-bound.toml")
    completed = run_corenn("train", "--config", at_bound, "--out", tmp_path / "out", "--quiet")
    assert completed.returncode == 0, completed.stderr
    past_bound = write_config(tmp_path, nested_residual_config(MAX_NESTING_DEPTH), name="past-bound.toml")
    line = one_line_error(run_corenn("train", "--config", past_bound, "--out", tmp_path / "out", "--quiet"))
    assert f"layers nest at most {MAX_NESTING_DEPTH} tables deep" in line
    assert f"nests {MAX_NESTING_DEPTH + 1} deep" in line


def test_150_nested_residual_blocks_are_refused_without_a_recursion_error(tmp_path):
    path = write_config(tmp_path, nested_residual_config(150))
    line = one_line_error(run_corenn("train", "--config", path, "--out", tmp_path / "out", "--quiet"))
    assert f"more than {MAX_CONFIG_NESTING} deep" in line


def test_a_toml_nested_200_and_2000_deep_is_one_line(tmp_path):
    for depth in (200, 2000):
        text = nested_residual_config(2) + "\n[extra]\nvalue = " + "[" * depth + "]" * depth + "\n"
        path = write_config(tmp_path, text, name=f"deep-{depth}.toml")
        line = one_line_error(run_corenn("train", "--config", path, "--out", tmp_path / "out", "--quiet"))
        assert f"{MAX_CONFIG_NESTING}" in line, line
