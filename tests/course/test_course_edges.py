"""The course facade at its edges: a saving Logger's model name follows corenn's rule for run
names, since it names the run's folder."""

import pytest

from corenn.course.logs import Logger
from corenn.errors import ConfigError

PREFIX = "Logger: model_name is the name of the run folder, and its "


@pytest.mark.parametrize(
    ("model_name", "message"),
    [
        (".hidden", "name '.hidden' starts with '.': hidden names are reserved for corenn's set-up folders and temporaries; start it with another character"),
        ("a\nb", "name 'a\\nb' holds U+000A (a control character); a run name may not hold control characters (newlines, tabs), invisible format characters (right-to-left marks) or line separators: they garble listings and shell commands"),
        ("..", "name '..' is not a plain folder name: it may not be '.' or '..' nor contain '/', '\\' or NUL"),
        ("runs/ffnn", "name 'runs/ffnn' is not a plain folder name: it may not be '.' or '..' nor contain '/', '\\' or NUL"),
        ("", "name must be a non-empty string (the run directory's name), got ''"),
        (None, "name must be a non-empty string (the run directory's name), got None"),
    ],
)  # fmt: skip
def test_a_saving_logger_refuses_a_model_name_no_run_may_have(tmp_path, model_name, message):
    with pytest.raises(ConfigError) as caught:
        Logger(model_name, {}, {}, save=True, save_dir=str(tmp_path))
    assert str(caught.value) == PREFIX + message
    assert list(tmp_path.iterdir()) == []


def test_a_plain_model_name_still_makes_its_folder_and_the_next_one(tmp_path):
    first = Logger("feed forward", {}, {}, save=True, save_dir=str(tmp_path))
    second = Logger("feed forward", {}, {}, save=True, save_dir=str(tmp_path))
    assert first.save_dir == str(tmp_path / "feed forward") + "/"
    assert second.save_dir == str(tmp_path / "feed forward-2") + "/"


def test_a_logger_that_does_not_save_takes_any_name():
    assert Logger(None, {}, {}, save=False).save_dir is None
