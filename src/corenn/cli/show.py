"""``corenn show PRESET``: a bundled config as TOML, its comments included, to read or to copy;
``corenn show --keys``: every key a config takes, with its default."""

HELP = "print a bundled config (preset) as TOML: corenn show lenet-mnist > my-run.toml; --keys lists every key"


def add_arguments(parser):
    parser.add_argument("preset", nargs="?", metavar="PRESET", help="a preset's name (see corenn presets)")
    parser.add_argument(
        "--keys", action="store_true", help="list every config key with its default instead (a Markdown table)"
    )


def run(args):
    from corenn.errors import ConfigError

    if args.keys == (args.preset is not None):
        raise ConfigError("corenn show takes a preset's name (see corenn presets) or --keys, one of them")
    if args.keys:
        from corenn.run.config_keys import markdown_table

        print(markdown_table(), end="")
        return 0
    from corenn.run.starters import preset_text

    print(preset_text(args.preset), end="")
    return 0
