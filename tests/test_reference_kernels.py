"""``kernels = "reference"`` (``corenn train --kernels reference``): a run computed with the kernels'
references alone, checked, recorded, honoured on resume; the default runs the backends' overrides.

The probe layer below calls a kernel declared here, with a numpy override registered here (a
package may override the kernels it declares), so each run shows which of the two it called.
"""

import tomllib
from collections import OrderedDict

import pytest

from corenn import kernels
from corenn.errors import ConfigError
from corenn.hookspecs import hookimpl
from corenn.run.config import KERNELS, config_from_dict, load_preset
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd, plugin_system_from, plugins_in_use

from suite_helpers import run_command

CALLS = []  # "reference" or "override", one per call of the probe's kernel


def probe_scale_examples(rng, run):
    yield (rng.standard_normal((1, 3)), 2.0), {}
    yield (rng.standard_normal((4, 5)), -0.5), {}


@kernels.kernel(examples=probe_scale_examples)
def probe_scale(X, factor):
    """``factor * X``."""
    CALLS.append("reference")
    return factor * X


@kernels.override(probe_scale)
def probe_scale_fast(X, factor):
    CALLS.append("override")
    return X * factor


class ScaleProbe:
    """A layer without parameters whose forward is the kernel above (times one)."""

    name = "scale_probe"

    def __init__(self):
        self.training = True
        self.rng = None
        self.n_in = self.n_out = None
        self.activation = None
        self.parameters, self.gradients, self.cache = OrderedDict(), OrderedDict(), OrderedDict()

    def forward(self, X):
        return probe_scale(X, 1.0)

    def backward(self, dLdY):
        return dLdY


class KernelProbePlugin:
    @hookimpl
    def corenn_register_components(self, register):
        register("layer", "scale_probe", ScaleProbe)
        register("kernels", __name__, backend="numpy")


class SeesReferences:
    """A run callback noting, at each epoch's end and at the run's end (after the test split's
    evaluation), whether the references alone were in effect."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.seen.append(kernels.using_references())

    @hookimpl
    def corenn_train_end(self, run, metrics):
        self.seen.append(kernels.using_references())


def iris_with_probe(**changes):
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = 2
    data["layers"] = [
        {"name": "fully_connected", "n_out": 8, "activation": "relu"},
        {"name": "scale_probe"},
        {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
    ]
    return data | changes


@pytest.fixture
def probe_plugins():
    """The probe's plugin in use, and numpy's overrides as they were once the test is over (the
    test's plugin system installs its own, the probe's among them)."""
    before = kernels.installed_overrides("numpy")
    CALLS.clear()
    try:
        with plugins_in_use(plugin_system_from(KernelProbePlugin, strict=True)) as system:
            yield system
    finally:
        kernels.install_backend("numpy", "numpy", list(before.values()))
        CALLS.clear()


def test_a_run_calls_the_overrides_by_default_and_the_references_alone_with_kernels_reference(
    tmp_path, probe_plugins, no_plots
):
    fast, reference = SeesReferences(), SeesReferences()
    train(iris_with_probe(), out_dir=tmp_path / "fast", verbose=False, callbacks=[fast])
    assert set(CALLS) == {"override"}
    CALLS.clear()
    train(iris_with_probe(kernels="reference"), out_dir=tmp_path / "reference", verbose=False, callbacks=[reference])
    assert set(CALLS) == {"reference"}
    assert fast.seen == [False, False, False]  # two epochs' ends, then the run's end, after its test evaluation
    assert reference.seen == [True, True, True]
    assert not kernels.using_references()  # only while the run lasts


def test_a_default_run_started_inside_reference_kernels_runs_the_references(tmp_path, probe_plugins, no_plots):
    with kernels.reference_kernels():
        train(iris_with_probe(), out_dir=tmp_path, verbose=False)
        assert kernels.using_references()
    assert set(CALLS) == {"reference"}


def test_the_kernels_key_is_recorded_only_when_it_is_not_the_default(tmp_path, probe_plugins, no_plots):
    train(iris_with_probe(), out_dir=tmp_path / "fast", verbose=False)
    train(iris_with_probe(kernels="reference"), out_dir=tmp_path / "reference", verbose=False)
    fast = tomllib.loads((tmp_path / "fast" / "iris-ffnn" / "config.toml").read_text())
    reference = tomllib.loads((tmp_path / "reference" / "iris-ffnn" / "config.toml").read_text())
    assert "kernels" not in fast  # older runs' configs, without the key, still match
    assert reference["kernels"] == "reference"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fastest", r"^kernels must be one of fast, reference \(.*\), got 'fastest'$"),
        ("Reference", r"^kernels must be one of fast, reference \(.*\), got 'Reference'$"),
        (1, r"^kernels must be a string, got 1$"),
    ],
)
def test_a_wrong_kernels_value_is_an_error_naming_the_key_and_the_allowed_values(value, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(iris_with_probe(kernels=value))


def test_the_flag_offers_the_values_the_config_allows():
    from corenn.cli import build_parser

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    (flag,) = [action for action in train_parser._actions if "--kernels" in action.option_strings]
    assert tuple(flag.choices) == KERNELS


def test_corenn_train_kernels_reference_is_recorded_and_a_wrong_value_refused(tmp_path, capsys, no_plots):
    code, _, _ = run_command(capsys, "train", "--kernels", "reference", "--epochs", "1", "--out", tmp_path, "--quiet")
    assert code == 0
    assert tomllib.loads((tmp_path / "iris-ffnn" / "config.toml").read_text())["kernels"] == "reference"
    code, _, err = run_command(capsys, "train", "--kernels", "numba", "--out", tmp_path, "--quiet")
    assert code == 2
    assert "argument --kernels: invalid choice: 'numba' (choose from " in err


def test_a_resumed_run_keeps_its_recorded_kernels(tmp_path, probe_plugins, no_plots):
    config = iris_with_probe(kernels="reference", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, out_dir=tmp_path, verbose=False, callbacks=[InterruptAtEpochEnd(1)])
    CALLS.clear()
    seen = SeesReferences()
    resume(tmp_path / "iris-ffnn", verbose=False, callbacks=[seen])
    assert set(CALLS) == {"reference"}
    assert seen.seen == [True, True, True]


def test_a_resume_may_change_the_kernels_and_records_the_change(tmp_path, probe_plugins, capsys, no_plots):
    with pytest.raises(KeyboardInterrupt):
        train(
            iris_with_probe(kernels="reference", epochs=3),
            out_dir=tmp_path,
            verbose=False,
            callbacks=[InterruptAtEpochEnd(1)],
        )
    run_dir = tmp_path / "iris-ffnn"
    capsys.readouterr()
    CALLS.clear()
    code, _, err = run_command(capsys, "train", "--resume", run_dir, "--kernels", "fast", "--quiet")
    assert code == 0, err
    assert set(CALLS) == {"override"}
    assert "kernels" not in tomllib.loads((run_dir / "config.toml").read_text())
