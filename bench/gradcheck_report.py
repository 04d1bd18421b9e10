"""The largest finite-difference error of every registered layer, activation and loss.

    python bench/gradcheck_report.py [--backend numpy] [--json]

Layers are checked with every registered activation of their backend; options that a layer
needs (``n_out``, ``kernel_shape``) come from ``LAYER_OPTIONS`` below, and a layer not listed
there is checked with ``n_out=3`` if it takes that option, else with none.
"""

import argparse
import json

from corenn.plugins import get_registry
from corenn.registry import option_names
from corenn.testing import gradcheck

LAYER_OPTIONS = {
    "fully_connected": {"n_out": 3},
    "conv2d": {"n_out": 3, "kernel_shape": [3, 3], "stride": 2},
    "pool2d": {"kernel_shape": [2, 2], "stride": 1},
    "flatten": {},
    "batch_norm": {},
    "dropout": {"rate": 0.5},
    "scale": {"factor": 1 / 9},
    "patch_whitening": {"kernel_size": 2},
    "residual": {
        "layers": [
            {"name": "fully_connected", "n_out": 5, "activation": "tanh"},
            {"name": "batch_norm"},
            {"name": "dropout", "rate": 0.3},
        ]
    },
}
NO_ACTIVATION = ("pool2d", "flatten")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    registry = get_registry()
    activations = registry.names("activation", args.backend)
    rows = []
    for name in activations:
        rows.append(("activation", name, {}, gradcheck("activation", name, backend=args.backend)))
    for name in registry.names("loss", args.backend):
        rows.append(("loss", name, {}, gradcheck("loss", name, backend=args.backend, input_shape=(4, 3))))
    for name in registry.names("layer", args.backend):
        factory = registry.get("layer", name, args.backend).load()
        accepted = option_names(factory) or []
        options = dict(LAYER_OPTIONS.get(name, {"n_out": 3} if "n_out" in accepted else {}))
        variants = (
            [options]
            if name in NO_ACTIVATION or "activation" not in accepted
            else [options | {"activation": activation} for activation in activations]
        )
        for variant in variants:
            rows.append(("layer", name, variant, gradcheck("layer", name, variant, backend=args.backend)))
    if args.json:
        print(json.dumps([{"kind": k, "name": n, "options": o, "max_error": r.max_error} for k, n, o, r in rows]))
        return
    worst = {}
    for kind, name, _options, report in rows:
        key = (kind, name)
        worst[key] = max(worst.get(key, 0.0), report.max_error)
    print(f"{'kind':<11} {'component':<16} largest relative error (float64, every gradient, every activation)")
    for (kind, name), error in worst.items():
        print(f"{kind:<11} {name:<16} {error:.2e}")
    print(f"overall largest: {max(worst.values()):.2e}")


if __name__ == "__main__":
    main()
