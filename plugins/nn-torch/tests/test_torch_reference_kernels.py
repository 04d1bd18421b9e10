"""``kernels = "reference"`` on the torch backend: the run calls the kernels' references, on
tensors, where the default run calls torch's overrides (fully_connected's forward has one)."""

from corenn.kernels import reference_kernels, resolve_target
from corenn.plugins import get_backend
from corenn.run.config import load_preset
from corenn.run.train import train


def test_kernels_reference_runs_the_references_on_torch_and_the_default_its_overrides(monkeypatch):
    forward = resolve_target("corenn_fc.fully_connected:fully_connected_forward")
    get_backend("torch")  # installs torch's overrides
    override = forward.override_for("torch")
    assert override is not None, "torch overrides fully_connected_forward"
    calls = []
    reference, fast = forward.reference, override.function

    def spy(name, function):
        def called(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        return called

    monkeypatch.setattr(forward, "reference", spy("reference", reference))
    monkeypatch.setattr(override, "function", spy("override", fast))
    config = load_preset("iris-ffnn").to_dict() | {"backend": "torch", "epochs": 1}
    with reference_kernels(enabled=False):  # the overrides, chosen afresh (earlier tests' choices forgotten)
        fast_result = train(config, record=False, verbose=False)
    assert set(calls) == {"override"}
    calls.clear()
    reference_result = train(config | {"kernels": "reference"}, record=False, verbose=False)
    assert set(calls) == {"reference"}
    assert abs(reference_result["test_loss"] - fast_result["test_loss"]) < 1e-10
