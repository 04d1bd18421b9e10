"""``corenn gradcheck``: finite-difference check of any registered layer, activation or loss.

Options (``KEY=VALUE``) may come anywhere after the component's name, before or after flags:
``corenn gradcheck layer fully_connected --input-shape 4,5 n_out=3`` works (see
``ACCEPTS_OPTIONS_ANYWHERE`` and :func:`corenn.cli.main`).
"""

HELP = "check a layer's, activation's or loss's gradients by finite differences"
# argparse stops filling a positional list at the first flag; the CLI hands what it left over
# (KEY=VALUE words after a flag) to ``options`` instead of refusing them.
ACCEPTS_OPTIONS_ANYWHERE = "options"


def add_arguments(parser):
    parser.add_argument("kind", choices=("layer", "activation", "loss"), help="component kind")
    parser.add_argument("name", help="registered component name, e.g. fully_connected")
    parser.add_argument(
        "options",
        nargs="*",
        metavar="KEY=VALUE",
        help="component options as TOML values, e.g. n_out=3 activation=tanh kernel_shape=[3,3] (anywhere after NAME)",
    )
    parser.add_argument(
        "--input-shape", metavar="N,...", help="input shape, e.g. 4,5 or 2,7,7,3 (default: the component's example)"
    )
    parser.add_argument("--backend", default="numpy", help="component backend (default numpy)")
    parser.add_argument(
        "--tolerance", type=float, default=1e-6, help="largest relative error that passes (default 1e-6)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the input, the parameters' perturbation and the projection"
    )
    parser.add_argument(
        "--initial-parameters",
        action="store_true",
        help="check a layer at the parameters it makes, instead of moving them to random values first",
    )
    parser.add_argument(
        "--kernels",
        choices=("fast", "reference"),
        default="fast",
        help="fast: the backend's kernel overrides where it has them (default); reference: the kernels' references "
        "alone, so that a check failing with fast and passing here blames an override, not the component",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def parse_options(pairs):
    """``["n_out=3", "activation=tanh"]`` -> ``{"n_out": 3, "activation": "tanh"}`` (TOML values, else strings)."""
    import tomllib

    from corenn.errors import ConfigError

    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"component options are KEY=VALUE, got {pair!r}")
        try:
            options[key] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            options[key] = text
    return options


def _toml(value):
    """A value as a config (and this command's KEY=VALUE) would write it."""
    import json

    return json.dumps(value).replace(": ", " = ") if not isinstance(value, bool) else str(value).lower()


def parse_shape(text):
    from corenn.errors import ConfigError

    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) <= 0:
        raise ConfigError(f"--input-shape takes positive integers separated by commas, got {text!r}")
    return shape


def run(args):
    from corenn.cli.common import print_json
    from corenn.errors import ConfigError
    from corenn.kernels import reference_kernels
    from corenn.testing import gradcheck

    options = parse_options(args.options)
    try:
        with reference_kernels(args.kernels == "reference"):
            report = gradcheck(
                args.kind,
                args.name,
                options,
                backend=args.backend,
                input_shape=parse_shape(args.input_shape) if args.input_shape else None,
                seed=args.seed,
                tolerance=args.tolerance,
                perturb=not args.initial_parameters,
            )
    except ConfigError as exc:
        if "needs the option" not in str(exc):
            raise
        raise ConfigError(f"{exc}; {_how_to_give(args, options)}") from exc
    if args.json:
        print_json(report.as_dict())
    else:
        kernels = ", the kernels' references alone" if args.kernels == "reference" else ""
        print(
            f"{args.kind} {args.name} ({args.backend}{kernels}), input {report.input_shape}, tolerance {args.tolerance:g}"
        )
        if report.options and not options:
            shown = " ".join(f"{key}={_toml(value)}" for key, value in report.options.items())
            print(f"  options {shown} (its example_options; give KEY=VALUE to choose others)")
        if args.kind == "layer":
            parameters_line = _parameters_line(report, args.seed)
            if parameters_line:
                print(parameters_line)
        for key, error in report.errors.items():
            print(f"  d/d{key:<6} relative error {error:.3e}  {'ok' if error <= args.tolerance else 'TOO LARGE'}")
        if report.failure is not None:
            print(f"FAILED: {report.failure}")
        else:
            print("passed" if report.passed else f"FAILED: largest relative error {report.max_error:.3e}")
    return 0 if report.passed else 1


def _parameters_line(report, seed):
    """What the check did with a layer's parameters, in one line; for a layer without any
    (dropout, pool2d: only ``X`` has a gradient), that it has none; nothing when the check
    failed before any gradient was compared."""
    if not report.errors:
        return None
    if set(report.errors) == {"X"}:
        return "  no parameters: only the input's gradient is checked"
    if report.perturbed:
        return f"  parameters moved to random values (seed {seed}); --initial-parameters checks them as made"
    return "  parameters as the layer made them (--initial-parameters)"


def _how_to_give(args, options):
    """How to give a component the options it needs, naming them: on the command line, or (for its
    author) once for every check, as the class's ``example_options``."""
    from corenn.plugins import get_registry
    from corenn.registry import required_option_names

    factory = get_registry().get(args.kind, args.name, args.backend).load()
    missing = [name for name in required_option_names(factory) if name not in options]
    example = " ".join(f"{name}=..." for name in missing) or "KEY=VALUE"
    return (
        f"give them after the name (corenn gradcheck {args.kind} {args.name} {example}), or declare "
        f"example_options on {getattr(factory, '__name__', factory)!s} to check it with those"
    )
