"""``corenn init [--template NAME] FILE``: write a commented starter config that trains as written."""

HELP = "write a commented starter config: corenn init --template cnn my-run.toml"


def add_arguments(parser):
    from corenn.run.starters import DEFAULT_TEMPLATE, TEMPLATES

    parser.add_argument("file", metavar="FILE", help="the config file to write (its name becomes the run's name)")
    parser.add_argument(
        "--template",
        choices=tuple(TEMPLATES),
        default=DEFAULT_TEMPLATE,
        # argparse formats help with %: a template's "98%" must reach it as "98%%"
        help="; ".join(f"{name}: {what}" for name, what in TEMPLATES.items()).replace("%", "%%")
        + f" (default: {DEFAULT_TEMPLATE})",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="with --template csv or image-folder: your CSV file or image folder, written into the config",
    )
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")


def run(args):
    from pathlib import Path

    from corenn.errors import ConfigError
    from corenn.files import atomic_write
    from corenn.run.starters import DATA_KEYS, TEMPLATES, render_template, run_name_for

    path = Path(args.file)
    if path.exists() and not args.force:
        raise ConfigError(f"{path} exists; pass --force to replace it, or name another file")
    if path.suffix != ".toml":
        raise ConfigError(f"{path}: a config file is TOML; name it with .toml (my-run.toml)")
    text = render_template(args.template, name=run_name_for(path), data=args.data)
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is not a directory; create it first or write the config elsewhere")
    atomic_write(path, text)
    print(f"wrote {path}: {TEMPLATES[args.template]}")
    if args.template in DATA_KEYS and args.data is None:
        key = DATA_KEYS[args.template]
        print(f"set [dataset] {key} in it to your {'CSV file' if key == 'path' else 'image folder'}, then", end=" ")
    print(f"train it with: corenn train --config {path}")
    return 0
