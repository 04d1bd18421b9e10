"""A bug in a plugin's layer stops training: the progress made since the last scheduled
checkpoint is saved first (when the state is whole), and ``corenn train --resume`` then ends
exactly as a run the bug never stopped."""

import re
import textwrap

from faultkit import (
    RUN_NAME,
    SMALL_IRIS_CONFIG,
    assert_records_whole,
    assert_same_run,
    checkpoint_state,
    environment,
    run_corenn,
    write_config,
)

# An identity layer that raises at its n-th training forward pass when CORENN_TEST_FLAKY_AT=n.
FLAKY_LAYER = textwrap.dedent("""\
    import os

    from corenn import hookimpl
    from corenn.nn.layers import Layer

    class Flaky(Layer):
        name = "flaky"
        example_input_shape = (4, 5)

        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, X):
            self.calls += 1
            if str(self.calls) == os.environ.get("CORENN_TEST_FLAKY_AT"):
                raise RuntimeError("flaky layer")
            return self.as_input(X)

        def backward(self, dLdY):
            return dLdY

    @hookimpl
    def corenn_register_components(register):
        register("layer", "flaky", Flaky)
""")

CONFIG = SMALL_IRIS_CONFIG.replace(
    '[[layers]]\nname = "fully_connected"\nn_out = "auto"',
    '[[layers]]\nname = "flaky"\n\n[[layers]]\nname = "fully_connected"\nn_out = "auto"',
)
BATCHES_PER_EPOCH = 7  # 105 Iris training rows in batches of 16
FAILING_CALL = 4 * (BATCHES_PER_EPOCH + 1) + 3  # in epoch 5 (each epoch: 7 batches and 1 validation pass)


def install_flaky_plugin(folder):
    (folder / "flaky_plugin.py").write_text(FLAKY_LAYER, encoding="utf-8")
    info = folder / "corenn_test_flaky-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: corenn-test-flaky\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[corenn.plugins]\nflaky = flaky_plugin\n", encoding="utf-8")


def test_an_error_saves_a_checkpoint_where_it_stopped_and_the_resume_loses_nothing(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_flaky_plugin(site)
    config = write_config(tmp_path, CONFIG)
    plain = environment(PYTHONPATH=str(site))
    reference = run_corenn("train", "--config", config, "--out", tmp_path / "reference", "--quiet", env=plain)
    assert reference.returncode == 0, reference.stderr

    run_dir = tmp_path / "out" / RUN_NAME
    # no scheduled checkpoint after the first: without the save on the error, 4 epochs are lost
    failing = plain | {"CORENN_TEST_FLAKY_AT": str(FAILING_CALL), "CORENN_CHECKPOINT_SECONDS": "3600"}
    stopped = run_corenn("train", "--config", config, "--out", tmp_path / "out", "--quiet", env=failing)
    assert stopped.returncode == 1
    lines = stopped.stderr.strip().splitlines()
    log = run_dir / "error.log"
    saved = re.fullmatch(
        r"corenn train: error: layers\[1\] \(flaky, from corenn-test-flaky\): unexpected RuntimeError: flaky layer "
        rf"\(a bug in corenn or a plugin\); the traceback is in {re.escape(str(log))}; "
        r"checkpoint saved \(epoch 5, after batch (\d)\); "
        rf"once it is fixed, continue with: corenn train --resume {re.escape(str(run_dir))}",
        lines[-1],
    )
    assert saved, stopped.stderr
    assert len(lines) == 1 and "Traceback" not in stopped.stderr
    assert "RuntimeError: flaky layer" in log.read_text()
    _, state = checkpoint_state(run_dir / "checkpoint.npz")
    assert (state["epoch"], state["progress"]["next_batch"]) == (4, int(saved.group(1)))
    assert state["step"] == 4 * BATCHES_PER_EPOCH + int(saved.group(1)) > 4 * BATCHES_PER_EPOCH
    log.unlink()  # the one record beside a run's own
    assert_records_whole(run_dir)

    resumed = run_corenn("train", "--resume", run_dir, "--quiet", env=plain)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(tmp_path / "reference" / RUN_NAME, run_dir)
