"""What a newcomer copies from the pages is what the code does (issue 24's newcomer trial): the
config shown as a template's is the template's, the convolution's formula is the layer's, and
the build without nox installs what the generated references document."""

import json
import re
import tomllib

from corenn.run.starters import render_template

from corenn_conv.conv2d import Conv2D
from docs_pages import blocks, reference_module, text_of


def _block_named(page, name):
    found = [block for block in blocks(page) if block.language == "toml" and f'name = "{name}"\n' in block.code]
    assert len(found) == 1, f"{page}: one toml block of the run {name!r}"
    return tomllib.loads(found[0].code)


def test_the_image_folder_config_shown_is_the_template_without_its_comments():
    """The page called it the template; it had lost the template's best_metric, seed, loss and
    batch size, so the run a reader made did not say what the page led them to expect."""
    written = tomllib.loads(render_template("image-folder", name="cats", data="photos"))
    assert _block_named("docs/getting-started.md", "cats") == written


def test_the_convolution_formula_on_the_networks_page_is_the_layers():
    formula = re.search(r"`(Z\[n, y, x, o\] = [^`]+)`", Conv2D.__doc__).group(1)
    assert f"`{formula}`" in text_of("docs/networks.md")


def test_the_build_without_nox_installs_every_distribution_the_references_document():
    """Without corenn-fc and corenn-conv the components reference builds without a word, with no
    layers and no activations."""
    command = next(block.code for block in blocks("docs/index.md") if "mkdocs serve" in block.code)
    folders = {"corenn": '".[docs]"', "corenn-fc": "./plugins/nn-fc", "corenn-conv": "./plugins/nn-conv"}
    for distribution in reference_module().OWN_DISTRIBUTIONS:
        assert folders[distribution] in command, distribution


def test_the_early_stopping_run_shown_is_the_one_its_config_trains(tmp_path):
    """The page showed epoch 17, best epoch 7 and a test accuracy of 0.8667 for the config beside
    it, which stops at epoch 15 with its best at epoch 5 (and a key more in result.json)."""
    from corenn.run.config import config_from_dict
    from corenn.run.train import train

    page = text_of("docs/training.md")
    result = train(config_from_dict(_block_named("docs/training.md", "iris-es")), out_dir=tmp_path, verbose=False)
    shown = json.loads(re.search(r'`"stopped_early": (\{.*?\})`', page, re.DOTALL).group(1).replace("\n", " "))
    assert result["stopped_early"] == shown
    stopped = result["stopped_early"]
    assert (
        f"stopped early at epoch {stopped['epoch']} (patience {stopped['patience']}); "
        f"best epoch {stopped['best_epoch']} (val_accuracy {stopped['value']:.4f})" in page
    )
    assert f"test accuracy {result['test_accuracy']:.4f} with the best epoch's parameters" in page


def test_every_key_of_train_json_is_listed(tmp_path):
    """``corenn train --json`` prints result.json's object; the page listed four keys fewer."""
    from corenn.run.config import config_from_dict
    from corenn.run.train import train

    train(config_from_dict(_block_named("docs/training.md", "iris-es")), out_dir=tmp_path, verbose=False)
    keys = json.loads((tmp_path / "iris-es" / "result.json").read_text(encoding="utf-8"))
    listed = text_of("docs/training.md").split("With `--json`", 1)[1].split("\n\n", 1)[0]
    assert [key for key in keys if f"`{key}`" not in listed] == []
