"""The built-in optimizers: hand-computed steps, clipping, state round-trips, validation."""

import io
import math

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorruptFileError
from corenn.nn.optimizers import SGD, Adam, clip_by_norm
from corenn.protocols import Optimizer


def test_plain_sgd_step_is_lr_times_gradient():
    param = SGD(lr=0.5).update("w", np.array([1.0, -2.0]), np.array([0.2, -0.4]))
    np.testing.assert_array_equal(param, [0.9, -1.8])


def test_sgd_with_momentum_follows_hand_computed_sequence():
    optimizer = SGD(lr=0.1, momentum=0.9)
    param = np.array([1.0])
    # v1 = -0.1*0.5 = -0.05 -> 0.95; v2 = 0.9*(-0.05) - 0.05 = -0.095 -> 0.855;
    # v3 = 0.9*(-0.095) - 0.1*(-1) = 0.0145 -> 0.8695
    for grad, expected in [(0.5, 0.95), (0.5, 0.855), (-1.0, 0.8695)]:
        param = optimizer.update("w", param, np.array([grad]))
        assert param[0] == pytest.approx(expected, abs=1e-15)


def test_momentum_is_kept_separately_for_each_parameter_name():
    optimizer = SGD(lr=0.1, momentum=0.5)
    a, b = np.array([0.0]), np.array([0.0])
    a = optimizer.update("a", a, np.array([1.0]))
    a = optimizer.update("a", a, np.array([1.0]))  # v = 0.5*(-0.1) - 0.1 = -0.15
    b = optimizer.update("b", b, np.array([1.0]))  # a fresh velocity: -0.1
    assert a[0] == pytest.approx(-0.25, abs=1e-15)
    assert b[0] == pytest.approx(-0.1, abs=1e-15)


def test_adam_follows_hand_computed_sequence():
    optimizer = Adam(lr=0.1, beta1=0.5, beta2=0.75, epsilon=1e-8)
    param = np.array([1.0])
    # t=1, g=2: m=1, v=1, m_hat=1/0.5=2, v_hat=1/0.25=4 -> step 0.1*2/(2+eps)
    param = optimizer.update("w", param, np.array([2.0]))
    assert param[0] == pytest.approx(1.0 - 0.1 * 2 / (2 + 1e-8), abs=1e-15)
    # t=2, g=-3: m=0.5-1.5=-1, v=0.75+2.25=3, m_hat=-1/0.75=-4/3, v_hat=3/0.4375=48/7
    param = optimizer.update("w", param, np.array([-3.0]))
    expected = 1.0 - 0.1 * 2 / (2 + 1e-8) - 0.1 * (-4 / 3) / (math.sqrt(48 / 7) + 1e-8)
    assert param[0] == pytest.approx(expected, abs=1e-15)
    # t=3, g=0: m=-0.5, v=2.25, m_hat=-0.5/0.875=-4/7, v_hat=2.25/(1-0.421875)=2.25/0.578125
    param = optimizer.update("w", param, np.array([0.0]))
    expected -= 0.1 * (-4 / 7) / (math.sqrt(2.25 / 0.578125) + 1e-8)
    assert param[0] == pytest.approx(expected, abs=1e-15)


def test_adam_first_step_moves_each_entry_by_about_lr():
    param = np.zeros(3)
    param = Adam(lr=0.01).update("w", param, np.array([1e-3, -5.0, 200.0]))
    np.testing.assert_allclose(param, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_adam_counts_steps_per_parameter():
    optimizer = Adam(lr=0.1)
    early, late = np.zeros(1), np.zeros(1)
    for _ in range(5):
        early = optimizer.update("early", early, np.array([1.0]))
    late = optimizer.update("late", late, np.array([1.0]))
    # a parameter's first step is bias-corrected as a first step, whatever others did before
    assert late[0] == pytest.approx(-0.1, rel=1e-6)
    assert optimizer.state_dict()["t/early"] == 5
    assert optimizer.state_dict()["t/late"] == 1


def test_clip_norm_scales_a_large_gradient_to_the_limit():
    grad = np.array([3.0, 4.0])  # norm 5
    clipped = clip_by_norm(grad, 1.0)
    np.testing.assert_allclose(clipped, [0.6, 0.8], rtol=1e-15)
    np.testing.assert_array_equal(grad, [3.0, 4.0])  # the layer's gradient is left alone
    assert clip_by_norm(grad, 10.0) is grad
    assert clip_by_norm(grad, None) is grad


def test_sgd_clips_before_stepping():
    param = np.zeros(2)
    param = SGD(lr=1.0, clip_norm=2.5).update("w", param, np.array([3.0, 4.0]))
    np.testing.assert_allclose(param, [-1.5, -2.0], rtol=1e-15)
    small = np.zeros(2)
    small = SGD(lr=1.0, clip_norm=2.5).update("w", small, np.array([0.3, 0.4]))
    np.testing.assert_allclose(small, [-0.3, -0.4], rtol=1e-15)


def test_adam_clips_before_its_moments():
    clipped, unclipped = np.zeros(2), np.zeros(2)
    adam_clipped = Adam(lr=0.1, clip_norm=1.0)
    adam_plain = Adam(lr=0.1)
    for grad in ([30.0, 40.0], [0.3, -0.1]):
        clipped = adam_clipped.update("w", clipped, np.array(grad))
        unclipped = adam_plain.update("w", unclipped, np.array(grad))
    assert not np.allclose(clipped, unclipped)
    np.testing.assert_allclose(
        adam_clipped.state_dict()["m/w"], 0.9 * 0.1 * np.array([0.6, 0.8]) + 0.1 * np.array([0.3, -0.1])
    )


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.05, momentum=0.9, clip_norm=1.0), lambda: Adam(lr=0.01)])
def test_state_dict_round_trip_continues_bit_identically(make):
    rng = np.random.default_rng(0)
    grads = [{"0.W": rng.normal(size=(3, 2)), "0.b": rng.normal(size=(1, 2))} for _ in range(6)]
    start = {"0.W": rng.normal(size=(3, 2)), "0.b": np.zeros((1, 2))}

    straight = make()
    params_straight = {k: v.copy() for k, v in start.items()}
    for step_grads in grads:
        for name, grad in step_grads.items():
            params_straight[name] = straight.update(name, params_straight[name], grad)

    first = make()
    params_resumed = {k: v.copy() for k, v in start.items()}
    for step_grads in grads[:3]:
        for name, grad in step_grads.items():
            params_resumed[name] = first.update(name, params_resumed[name], grad)
    # through an .npz without pickle, as a checkpoint stores it
    buffer = io.BytesIO()
    np.savez(buffer, **first.state_dict())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        state = {key: stored[key] for key in stored.files}
    resumed = make()
    resumed.load_state_dict(state)
    for step_grads in grads[3:]:
        for name, grad in step_grads.items():
            params_resumed[name] = resumed.update(name, params_resumed[name], grad)

    for name in start:
        np.testing.assert_array_equal(params_resumed[name], params_straight[name])
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def test_state_dict_holds_only_arrays_and_numbers_and_copies():
    optimizer = Adam(lr=0.01)
    param = np.ones((2, 2), dtype=np.float32)
    param = optimizer.update("0.W", param, np.ones((2, 2), dtype=np.float32))
    state = optimizer.state_dict()
    assert set(state) == {"lr", "m/0.W", "v/0.W", "t/0.W"}
    assert all(isinstance(key, str) for key in state)
    assert all(isinstance(value, (np.ndarray, float, int)) for value in state.values())
    state["m/0.W"][...] = 123.0  # mutating the snapshot must not touch the optimizer
    assert optimizer.state_dict()["m/0.W"][0, 0] != 123.0


def test_load_state_dict_replaces_existing_state():
    optimizer = SGD(lr=0.1, momentum=0.9)
    optimizer.update("stale", np.zeros(1), np.ones(1))
    optimizer.load_state_dict({"lr": 0.25, "velocity/0.W": np.array([1.0])})
    assert optimizer.lr == 0.25
    assert set(optimizer.state_dict()) == {"lr", "velocity/0.W"}


def test_load_state_dict_rejects_unknown_keys():
    with pytest.raises(CorruptFileError, match=r"'m/0.W'.*velocity"):
        SGD().load_state_dict({"lr": 0.1, "m/0.W": np.zeros(1)})


@pytest.mark.parametrize("optimizer_cls", [SGD, Adam])
def test_float32_parameters_stay_float32(optimizer_cls):
    optimizer = optimizer_cls(lr=0.1, clip_norm=0.5)
    param = np.ones(4, dtype=np.float32)
    for _ in range(2):
        param = optimizer.update("w", param, np.full(4, 2.0, dtype=np.float32))
    assert param.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in optimizer.state_dict().items() if isinstance(v, np.ndarray))


def test_optimizer_follows_lr_changes_between_steps():
    optimizer = SGD(lr=1.0)
    param = np.zeros(1)
    optimizer.lr = 0.1
    param = optimizer.update("w", param, np.ones(1))
    assert param[0] == pytest.approx(-0.1, abs=1e-15)


@pytest.mark.parametrize(
    ("factory", "options", "option", "allowed"),
    [
        (SGD, {"lr": 0.0}, "lr", "> 0"),
        (SGD, {"lr": -0.1}, "lr", "> 0"),
        (SGD, {"lr": float("nan")}, "lr", "finite"),
        (SGD, {"momentum": 1.0}, "momentum", "[0, 1)"),
        (SGD, {"momentum": -0.1}, "momentum", "[0, 1)"),
        (SGD, {"clip_norm": 0.0}, "clip_norm", "> 0"),
        (Adam, {"lr": 0}, "lr", "> 0"),
        (Adam, {"beta1": 1.0}, "beta1", "[0, 1)"),
        (Adam, {"beta2": -0.5}, "beta2", "[0, 1)"),
        (Adam, {"epsilon": 0.0}, "epsilon", "> 0"),
        (Adam, {"clip_norm": -1.0}, "clip_norm", "> 0"),
        (Adam, {"lr": "fast"}, "lr", "finite number"),
    ],
)
def test_bad_options_name_the_option_and_the_allowed_range(factory, options, option, allowed):
    with pytest.raises(ConfigError) as excinfo:
        factory(**options)
    assert repr(option) in str(excinfo.value)
    assert allowed in str(excinfo.value)


@pytest.mark.parametrize(("name", "cls"), [("sgd", SGD), ("adam", Adam)])
def test_created_through_the_registry(name, cls):
    optimizer = corenn.create("optimizer", name, lr=0.02)
    assert isinstance(optimizer, cls) and isinstance(optimizer, Optimizer)
    assert optimizer.lr == 0.02


def test_registry_reports_a_bad_option_with_the_component_name():
    with pytest.raises(ConfigError, match=r"optimizer 'sgd'.*'momentum'.*\[0, 1\)"):
        corenn.create("optimizer", "sgd", momentum=1.5)
