"""Run names chosen to hurt: glob characters, hidden names, set-up folder look-alikes, names
too long for the file system. No run may touch a folder that is not its own."""

import shutil
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corenn.errors import CorennError
from corenn.numpy_backend import NumpyBackend
from corenn.run.config import MAX_RUN_NAME_BYTES, config_from_dict, load_preset, with_overrides
from corenn.run.train import train
from corenn.trained.sweep import run_sweep

from faultkit import one_line_error, run_corenn

# Folders that were there before: other runs, a folder the user made that looks like a set-up
# folder, and another run's abandoned set-up folder.
PLANTED = ("exp", "exp-final", "unrelated", ".exp.final.staging", ".other.abcd1234.staging", "x", "iris-ffnn-sweep")


def plant(out):
    out.mkdir(parents=True, exist_ok=True)
    for name in PLANTED:
        (out / name).mkdir()
        (out / name / "keep.txt").write_text(name, encoding="utf-8")


def assert_planted_untouched(out):
    for name in PLANTED:
        assert (out / name / "keep.txt").read_text(encoding="utf-8") == name, f"{name} was touched"


def tiny(name):
    return with_overrides(load_preset("iris-ffnn"), name=name, epochs=1)


def test_glob_characters_in_run_names_touch_no_other_folder(tmp_path):
    """Before: ``*`` deleted an unrelated folder, and ``exp`` deleted a run named
    ``.exp.final.staging`` (the clean-up matched ``.NAME.*.staging`` as a glob)."""
    out = tmp_path / "out"
    plant(out)
    for name in ("*", "exp*", "[eo]*", "e?p", "*.staging", "**"):
        completed = run_corenn("train", "--epochs", "1", "--quiet", "--name", name, "--out", out)
        assert completed.returncode == 0, completed.stderr
        assert (out / name / "result.json").is_file()
        assert_planted_untouched(out)


def test_an_abandoned_set_up_folder_of_the_same_run_is_still_cleared(tmp_path):
    out = tmp_path / "out"
    plant(out)
    abandoned = out / ".exp*.a1b2c3d4.staging"
    abandoned.mkdir()
    completed = run_corenn("train", "--epochs", "1", "--quiet", "--name", "exp*", "--out", out)
    assert completed.returncode == 0, completed.stderr
    assert not abandoned.exists()
    assert_planted_untouched(out)


def test_hidden_run_names_are_refused_with_one_line(tmp_path):
    line = one_line_error(run_corenn("train", "--name", ".exp.final.staging", "--out", tmp_path))
    assert line == (
        "corenn train: error: name '.exp.final.staging' starts with '.': hidden names are reserved for corenn's "
        "set-up folders and temporaries; start it with another character"
    )


def test_long_run_names_are_refused_up_front_with_one_line(tmp_path):
    """Before: 300 characters ended in "File name too long"; 250 passed the check, then the
    set-up folder's longer name failed with a traceback."""
    for length in (250, 300, 10_000):
        line = one_line_error(run_corenn("train", "--name", "n" * length, "--out", tmp_path))
        assert f"is {length} bytes long; a run name may hold at most {MAX_RUN_NAME_BYTES} bytes" in line
        assert len(line) < 400
    completed = run_corenn("train", "--epochs", "1", "--quiet", "--name", "n" * MAX_RUN_NAME_BYTES, "--out", tmp_path)
    assert completed.returncode == 0, completed.stderr
    sweep = run_corenn(
        "sweep", "--epochs", "1", "--lrs", "0.1", "--hidden", "4", "--out", tmp_path, "--preset", "iris-ffnn"
    )
    assert sweep.returncode == 0, sweep.stderr


NAME_CHARACTERS = string.ascii_letters + string.digits + ".*?[]!{}-_ ~$'\"\\/:é漢"


HIDDEN_WIDTHS = st.one_of(
    st.integers(min_value=-3, max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=3),
)
LEARNING_RATES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2))


def tiny_with(name, hidden, lr):
    """The iris-ffnn preset, one epoch, with a random hidden width and learning rate (the
    values a careless or hostile config might hold)."""
    data = tiny(name).to_dict()
    data["layers"][0]["n_out"] = hidden
    data["optimizer"]["lr"] = lr
    return data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(alphabet=NAME_CHARACTERS, min_size=1, max_size=24),
    sweep=st.booleans(),
    hidden=st.one_of(st.just(8), HIDDEN_WIDTHS),
    lr=st.one_of(st.just(0.05), LEARNING_RATES),
)
def test_random_run_names_and_option_values_touch_no_other_run(tmp_path_factory, name, sweep, hidden, lr):
    """Whatever the name and values: the run (or sweep) trains into its own folder, or is
    refused with a one-line CorennError; no other folder under --out changes, and no set-up
    folder is left behind.

    The memory available is held at 64 MiB, so that a width drawn too large for it is refused
    (see test_too_big_for_the_machine.py) instead of training a network of gigabytes: before,
    a width of 48,144,513 wrote 6 GB of records and the next draw ran pytest out of memory.
    Each example's folder is removed afterwards."""
    out = tmp_path_factory.mktemp("names")
    plant(out)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(NumpyBackend, "available_memory", lambda self: 64 * 2**20)
            config = tiny_with(name, hidden, lr)
            if sweep:
                result_dir = run_sweep(
                    config_from_dict(config), [0.1] if not isinstance(lr, float) else [lr], [4], out_dir=out
                )["sweep_dir"]
            else:
                result_dir = train(config, out_dir=out, verbose=False)["run_dir"]
    except CorennError as exc:  # a refused name or value, one of the planted runs' names, or a diverged run
        assert "\n" not in str(exc)
    else:
        assert result_dir == str(out / (f"{name}-sweep" if sweep else name))
    assert_planted_untouched(out)
    assert not [path.name for path in out.iterdir() if path.name.endswith(".staging") and path.name not in PLANTED]
    shutil.rmtree(out)


@pytest.mark.parametrize(
    ("name", "shown", "character"),
    [
        ("two\nlines", "'two\\nlines'", "U+000A (a control character)"),
        ("tab\there", "'tab\\there'", "U+0009 (a control character)"),
        ("abc\u200fdef", "'abc\\u200fdef'", "U+200F (right-to-left mark)"),
        ("run\u202egnp.exe", "'run\\u202egnp.exe'", "U+202E (right-to-left override)"),
        ("zero\u200bwidth", "'zero\\u200bwidth'", "U+200B (zero width space)"),
        ("para\u2029graph", "'para\\u2029graph'", "U+2029 (paragraph separator)"),
    ],
)
def test_names_with_characters_that_do_not_show_are_refused(tmp_path, name, shown, character):
    """Before: a newline, a tab or a right-to-left override in a name was accepted; the run's
    folder then garbled ``corenn runs`` and every shell command naming it. Now one line."""
    line = one_line_error(
        run_corenn("train", "--preset", "iris-ffnn", "--name", name, "--out", tmp_path, "--epochs", "1")
    )
    assert line == (
        f"corenn train: error: name {shown} holds {character}; a run name may not hold control characters "
        "(newlines, tabs), invisible format characters (right-to-left marks) or line separators: they garble "
        "listings and shell commands"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["$$", "$x^2$", "cost $5"])
def test_names_with_dollar_signs_train_and_plot(tmp_path, name):
    """Before: a name with two "$" reached the plots' titles as matplotlib's math text, and the
    run ended with "unexpected ValueError ... ParseException" (found by the random names above)."""
    result = train(tiny(name), out_dir=tmp_path, verbose=False)
    assert (tmp_path / name / "loss.png").is_file() and result["run_dir"] == str(tmp_path / name)
