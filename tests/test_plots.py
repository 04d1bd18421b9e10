"""The run's plots: whole-number epoch ticks, the run's name in the titles, the learning rate in
loss_steps.png (figures inspected before they are saved)."""

import numpy as np
import pytest

import corenn.records.plots as plots


@pytest.fixture
def figures(monkeypatch):
    """The figures the plots module saves, by file name, kept open for inspection."""
    saved = {}

    def keep(plt, figure, path):
        figure.canvas.draw()
        saved[path.name] = figure
        return path

    monkeypatch.setattr(plots, "_save_figure", keep)
    yield saved
    import matplotlib.pyplot as plt

    for figure in saved.values():
        plt.close(figure)


def history(epochs):
    return [
        {"epoch": e, "train_loss": 1 / e, "train_accuracy": 1 - 1 / (e + 1), "val_loss": 1.1 / e, "val_accuracy": 0.5}
        for e in range(1, epochs + 1)
    ]


@pytest.mark.parametrize("epochs", [2, 3, 7])
def test_epoch_ticks_are_whole_numbers_and_titles_name_the_run(figures, tmp_path, epochs):
    plots.write_plots(history(epochs), tmp_path, name="mnist-mlp-2")
    for file in ("loss.png", "accuracy.png"):
        axes = figures[file].axes[0]
        ticks = [tick for tick in axes.get_xticks() if axes.get_xlim()[0] <= tick <= axes.get_xlim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
        assert axes.get_title().startswith("mnist-mlp-2: ")


def test_loss_steps_shows_the_learning_rate_on_a_second_axis(figures, tmp_path):
    rates = np.geomspace(0.1, 0.001, 50)
    plots.write_step_plot(np.linspace(2, 0.1, 50), tmp_path, learning_rates=rates, name="run-a")
    figure = figures["loss_steps.png"]
    assert len(figure.axes) == 2
    loss_axes, rate_axes = figure.axes
    assert loss_axes.get_title() == "run-a: training loss per step"
    assert rate_axes.get_ylabel() == "learning rate"
    assert np.allclose(rate_axes.lines[0].get_ydata(), rates)
    assert "learning rate" in [text.get_text() for text in loss_axes.get_legend().get_texts()]
