"""SGD's Nesterov momentum, the per-parameter ``lr_scale`` of SGD and Adam, and one_cycle's
``anneal`` option, on numpy.

Agreement with torch.optim (SGD with nesterov, parameter groups, AdamW) and with torch's
OneCycleLR(anneal_strategy="linear") is checked in the torch session
(plugins/nn-torch/tests/test_torch_optimizer_options.py).
"""

import math

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError
from corenn.nn.optimizers import SGD, Adam, accepts_lr_scale, require_lr_scale_support
from corenn.nn.schedulers import OneCycle
from corenn.plugins import get_registry
from corenn.registry import option_names

# Nesterov momentum


def test_nesterov_follows_hand_computed_sequence():
    optimizer = SGD(lr=0.1, momentum=0.9, nesterov=True)
    param = np.array([1.0])
    # v1 = -0.1 * 1 = -0.1;            param += 0.9 * v1 - 0.1 * 1 = -0.19  -> 0.81
    # v2 = 0.9 * v1 - 0.1 * 2 = -0.29; param += 0.9 * v2 - 0.1 * 2 = -0.461 -> 0.349
    # v3 = 0.9 * v2 - 0.1 * 0 = -0.261; param += 0.9 * v3 = -0.2349       -> 0.1141
    expected = [0.81, 0.349, 0.1141]
    for grad, value in zip([1.0, 2.0, 0.0], expected, strict=True):
        param = optimizer.update("0.W", param, np.array([grad]))
        assert param[0] == pytest.approx(value, rel=1e-14)
    assert optimizer.state["velocity"]["0.W"][0] == pytest.approx(-0.261, rel=1e-14)


def test_nesterov_moves_further_than_heavy_ball_on_a_steady_gradient():
    """On a constant gradient both reach the same velocity; Nesterov's look-ahead adds
    ``momentum * v - lr * g`` instead of ``v``, which is the larger step from the first one on."""
    plain, nesterov = SGD(lr=0.1, momentum=0.9), SGD(lr=0.1, momentum=0.9, nesterov=True)
    plain_param, nesterov_param = np.zeros(1), np.zeros(1)
    for _ in range(5):
        plain_param = plain.update("0.W", plain_param, np.ones(1))
        nesterov_param = nesterov.update("0.W", nesterov_param, np.ones(1))
        assert nesterov_param[0] < plain_param[0] < 0
    np.testing.assert_array_equal(nesterov.state["velocity"]["0.W"], plain.state["velocity"]["0.W"])


def test_nesterov_with_weight_decay_and_clipping_decays_inside_both_terms():
    optimizer = SGD(lr=0.5, momentum=0.5, clip_norm=1.0, weight_decay=0.1, nesterov=True)
    param = np.array([2.0, 0.0])
    param = optimizer.update("0.W", param, np.array([0.0, 10.0]))  # clipped to [0, 1]
    grad = np.array([0.0, 1.0]) + 0.1 * np.array([2.0, 0.0])
    velocity = -0.5 * grad
    np.testing.assert_allclose(param, np.array([2.0, 0.0]) + 0.5 * velocity - 0.5 * grad, rtol=1e-15)


@pytest.mark.parametrize("momentum", [0.0, 0])
def test_nesterov_without_momentum_is_a_config_error(momentum):
    with pytest.raises(ConfigError, match=r"'nesterov'.*momentum > 0"):
        SGD(lr=0.1, momentum=momentum, nesterov=True)


@pytest.mark.parametrize("value", ["yes", 1, None, 1.0])
def test_nesterov_must_be_a_boolean(value):
    with pytest.raises(ConfigError, match=r"option 'nesterov' must be true or false"):
        SGD(lr=0.1, momentum=0.9, nesterov=value)


def test_nesterov_is_an_option_of_the_registered_sgd():
    assert "nesterov" in option_names(get_registry().get("optimizer", "sgd").load())
    optimizer = corenn.create("optimizer", "sgd", lr=0.1, momentum=0.9, nesterov=True)
    assert optimizer.nesterov is True and "nesterov=True" in repr(optimizer)
    assert corenn.create("optimizer", "sgd", lr=0.1).nesterov is False


def test_nesterov_state_round_trip_continues_bit_identically():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 2)) for _ in range(6)]
    reference, reference_param = SGD(lr=0.05, momentum=0.9, nesterov=True), rng.standard_normal((3, 2))
    param = reference_param.copy()
    for grad in grads:
        reference_param = reference.update("0.W", reference_param, grad)
    first = SGD(lr=0.05, momentum=0.9, nesterov=True)
    for grad in grads[:3]:
        param = first.update("0.W", param, grad)
    state = first.state_dict()
    assert sorted(state) == ["lr", "velocity/0.W"]
    second = SGD(lr=0.05, momentum=0.9, nesterov=True)
    second.load_state_dict(state)
    for grad in grads[3:]:
        param = second.update("0.W", param, grad)
    np.testing.assert_array_equal(param, reference_param)


def test_nesterov_keeps_float32():
    optimizer = SGD(lr=0.1, momentum=0.9, nesterov=True)
    param = np.ones(3, dtype=np.float32)
    param = optimizer.update("0.W", param, np.full(3, 0.5, dtype=np.float32))
    assert param.dtype == np.float32 and optimizer.state["velocity"]["0.W"].dtype == np.float32


# lr_scale


def test_sgd_lr_scale_multiplies_the_gradient_step():
    optimizer = SGD(lr=0.01)
    param = np.array([1.0, -1.0])
    param = optimizer.update("0.b", param, np.array([0.5, 1.0]), lr_scale=64.0)
    np.testing.assert_allclose(param, [1.0 - 0.01 * 64 * 0.5, -1.0 - 0.01 * 64 * 1.0], rtol=1e-15)


def test_sgd_lr_scale_does_not_scale_the_weight_decay():
    """With a zero gradient only the decay moves the parameter: the same for every scale."""
    shrunk = {}
    for scale in (1.0, 64.0):
        optimizer = SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
        param = np.array([3.0])
        for _ in range(3):
            param = optimizer.update("0.b", param, np.zeros(1), lr_scale=scale)
        shrunk[scale] = param[0]
    assert shrunk[64.0] == shrunk[1.0] < 3.0


def test_sgd_lr_scale_applies_after_clipping():
    optimizer = SGD(lr=0.1, clip_norm=1.0)
    param = np.zeros(2)
    param = optimizer.update("0.b", param, np.array([30.0, 40.0]), lr_scale=10.0)  # clipped to norm 1, then x10
    np.testing.assert_allclose(param, -0.1 * 10.0 * np.array([0.6, 0.8]), rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_lr_scale_is_a_larger_rate_with_a_proportionally_smaller_decay(nesterov):
    """``lr_scale = s`` is ``lr * s`` with ``weight_decay / s``: how torch parameter groups get it."""
    rng = np.random.default_rng(1)
    scale, lr, decay = 8.0, 0.02, 0.05
    scaled = SGD(lr=lr, momentum=0.9, weight_decay=decay, nesterov=nesterov)
    rescaled = SGD(lr=lr * scale, momentum=0.9, weight_decay=decay / scale, nesterov=nesterov)
    start = rng.standard_normal((4, 3))
    scaled_param, rescaled_param = start.copy(), start.copy()
    for _ in range(5):
        grad = rng.standard_normal((4, 3))
        scaled_param = scaled.update("0.W", scaled_param, grad, lr_scale=scale)
        rescaled_param = rescaled.update("0.W", rescaled_param, grad)
    np.testing.assert_allclose(scaled_param, rescaled_param, rtol=1e-12)
    assert not np.allclose(scaled_param, start)


def test_adam_lr_scale_multiplies_the_step():
    optimizer = Adam(lr=0.001)
    param = np.zeros(3)
    param = optimizer.update("0.b", param, np.array([0.2, -5.0, 1.0]), lr_scale=64.0)
    # Adam's first step is lr * sign(g) (up to epsilon); scaled, 64 * lr.
    np.testing.assert_allclose(param, [-0.064, 0.064, -0.064], rtol=1e-6)


def test_adam_lr_scale_does_not_scale_the_decoupled_decay():
    shrunk = {}
    for scale in (1.0, 64.0):
        optimizer = Adam(lr=0.01, weight_decay=0.5)
        param = np.array([2.0])
        for _ in range(3):
            param = optimizer.update("0.b", param, np.zeros(1), lr_scale=scale)
        shrunk[scale] = param[0]
    assert shrunk[64.0] == shrunk[1.0] == pytest.approx(2.0 * (1 - 0.01 * 0.5) ** 3, rel=1e-15)


def test_adam_lr_scale_is_a_larger_rate_with_a_proportionally_smaller_decay():
    rng = np.random.default_rng(2)
    scale, lr, decay = 16.0, 0.003, 0.1
    scaled = Adam(lr=lr, weight_decay=decay)
    rescaled = Adam(lr=lr * scale, weight_decay=decay / scale)
    start = rng.standard_normal((2, 5))
    scaled_param, rescaled_param = start.copy(), start.copy()
    for _ in range(5):
        grad = rng.standard_normal((2, 5))
        scaled_param = scaled.update("0.W", scaled_param, grad, lr_scale=scale)
        rescaled_param = rescaled.update("0.W", rescaled_param, grad)
    np.testing.assert_allclose(scaled_param, rescaled_param, rtol=1e-12)
    for slot in ("m", "v"):  # the moment estimates never see the scale
        np.testing.assert_array_equal(scaled.state[slot]["0.W"], rescaled.state[slot]["0.W"])


@pytest.mark.parametrize(
    "make", [lambda: SGD(lr=0.1, momentum=0.9, weight_decay=0.01), lambda: Adam(lr=0.01, weight_decay=0.01)]
)
def test_a_scale_of_one_is_bit_for_bit_no_scale(make):
    rng = np.random.default_rng(3)
    with_scale, without = make(), make()
    first, second = np.ones(4), np.ones(4)
    for _ in range(4):
        grad = rng.standard_normal(4)
        first = with_scale.update("0.W", first, grad, lr_scale=1.0)
        second = without.update("0.W", second, grad)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam()])
def test_lr_scale_leaves_the_state_dict_format_unchanged(make):
    scaled, plain = make(), make()
    scaled.update("0.b", np.ones(2), np.ones(2), lr_scale=64.0)
    plain.update("0.b", np.ones(2), np.ones(2))
    assert sorted(scaled.state_dict()) == sorted(plain.state_dict())


@pytest.mark.parametrize("cls", [SGD, Adam])
@pytest.mark.parametrize("bad", [0.0, -2.0, math.nan, math.inf, True, "64"])
def test_a_bad_lr_scale_is_a_config_error(cls, bad):
    param = np.ones(2)
    with pytest.raises(ConfigError, match=r"lr_scale must be a finite number > 0"):
        param = cls().update("0.b", param, np.ones(2), lr_scale=bad)
    np.testing.assert_array_equal(param, np.ones(2))


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_lr_scale_keeps_float32(cls):
    param = np.ones(3, dtype=np.float32)
    param = cls().update("0.b", param, np.full(3, 0.5, dtype=np.float32), lr_scale=64.0)
    assert param.dtype == np.float32


class LegacyOptimizer:
    """A third-party optimizer written before lr_scale existed."""

    lr = 0.1

    def update(self, param_name, param, param_grad):
        return param - self.lr * param_grad


class KeywordOptimizer(LegacyOptimizer):
    def update(self, param_name, param, param_grad, **options):
        return super().update(param_name, param, param_grad)


def test_which_optimizers_accept_lr_scale():
    assert accepts_lr_scale(SGD()) and accepts_lr_scale(Adam())
    assert accepts_lr_scale(KeywordOptimizer())
    assert not accepts_lr_scale(LegacyOptimizer())


def test_require_lr_scale_support_names_the_optimizer_and_the_parameters():
    require_lr_scale_support(LegacyOptimizer(), {})  # nothing scaled: nothing asked
    require_lr_scale_support(SGD(), {"1.b": 64.0}, "sgd")
    with pytest.raises(ConfigError) as error:
        require_lr_scale_support(LegacyOptimizer(), {"3.b": 64.0, "1.b": 64.0}, "legacy")
    message = str(error.value)
    assert "'legacy'" in message and "LegacyOptimizer" in message and "1.b, 3.b" in message


# one_cycle's anneal


def test_one_cycle_linear_is_a_straight_line_in_each_phase():
    schedule = OneCycle(1.0, total_steps=41, pct_start=0.5, div_factor=10, final_div_factor=100, anneal="linear")
    peak = 0.5 * 41 - 1  # 19.5: between two steps
    start, final = 0.1, 0.001
    for step in (0, 7, 19, 20, 33, 40):
        if step <= peak:
            expected = start + (1.0 - start) * step / peak
        else:
            expected = 1.0 + (final - 1.0) * (step - peak) / (40 - peak)
        assert schedule(step) == pytest.approx(expected, rel=1e-14)
    rising = np.diff([schedule(step) for step in range(20)])
    falling = np.diff([schedule(step) for step in range(20, 41)])
    np.testing.assert_allclose(rising, (1.0 - start) / peak, rtol=1e-12)
    np.testing.assert_allclose(falling, (final - 1.0) / (40 - peak), rtol=1e-12)
    assert schedule(41) == schedule(1000) == schedule(40)


def test_one_cycle_linear_and_cos_share_their_end_points_but_not_the_way():
    linear = OneCycle(0.5, total_steps=100, anneal="linear")
    cosine = OneCycle(0.5, total_steps=100)
    assert cosine.anneal == "cos"
    for step in (0, 29, 99):
        assert linear(step) == pytest.approx(cosine(step), rel=1e-12)
    # a quarter into the rise the cosine is still slow, the line already a quarter up
    assert linear(7) > cosine(7)
    assert "anneal='linear'" in repr(linear)


@pytest.mark.parametrize("anneal", ["cosine", "Linear", "", 1, None])
def test_one_cycle_bad_anneal_names_the_option_and_the_choices(anneal):
    with pytest.raises(ConfigError, match=r"option 'anneal' must be one of 'cos', 'linear'"):
        OneCycle(0.5, total_steps=100, anneal=anneal)


def test_one_cycle_anneal_through_the_registry():
    assert "anneal" in option_names(get_registry().get("scheduler", "one_cycle").load())
    schedule = corenn.create("scheduler", "one_cycle", initial_lr=0.2, total_steps=10, pct_start=0.5, anneal="linear")
    assert schedule(2) == pytest.approx(0.2 / 25 + (0.2 - 0.2 / 25) * 2 / 4, rel=1e-14)
