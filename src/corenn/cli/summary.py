"""``corenn summary``: what a config trains on and the network it builds, without training it."""

HELP = "summarise a config's data (splits, classes, input shape) and network (output shapes, parameters)"


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="a TOML run config")
    source.add_argument("--preset", metavar="NAME", help="a bundled config (default: iris-ffnn)")
    parser.add_argument("--backend", help="array backend of the components (numpy, torch)")
    parser.add_argument("--dtype", choices=("float64", "float32"), help="floating-point precision")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data root (default: $CORENN_DATA_DIR or ~/.cache/corenn/data)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object: data and model")


def run(args):
    from corenn.cli.common import print_json
    from corenn.run.build import build_with_arrays, chosen_kernels, fit_model_to_data
    from corenn.run.config import load_config, load_preset, with_overrides
    from corenn.run.summaries import data_summary, model_summary

    config = load_config(args.config) if args.config else load_preset(args.preset or "iris-ffnn")
    config = with_overrides(config, backend=args.backend, dtype=args.dtype)
    with chosen_kernels(config):
        data, model, _, _, _, arrays = build_with_arrays(config, data_dir=args.data_dir)
        fit_model_to_data(model, data.train, arrays)  # as a run does first (patch whitening)
        data_text = data_summary(data, config.dataset, args.data_dir)
        model_text = model_summary(model, data.input_shape, config.dtype, to_device=arrays.to_device)
    if args.json:
        print_json({"name": config.name, "data": data_text.to_dict(), "model": model_text.to_dict()})
        return 0
    print(f"{config.name}")
    for line in [*data_text.lines(), *model_text.lines()]:
        print(line)
    return 0
