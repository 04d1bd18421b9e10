"""``corenn listing``: the source code of chosen components, as Markdown or LaTeX (course submissions).

A class (or its chosen methods) comes after the reference code of the kernels it calls, its math;
``kernel:NAME`` lists one declared kernel, ``kernels:MODULE`` a backend's overrides (see
:mod:`corenn.cli.source_listings`)."""

import argparse

HELP = (
    "print the source code of components (kind:name) as Markdown or LaTeX, whole classes or chosen methods, "
    "after the kernels they call"
)


def add_arguments(parser):
    parser.add_argument(
        "components",
        nargs="+",
        metavar="KIND:NAME",
        help="components to list, e.g. layer:fully_connected activation:relu (third-party ones too); "
        "kernel:fully_connected_forward lists a declared kernel's reference, kernels:corenn_fc.fast a backend's overrides",
    )
    parser.add_argument(
        "--methods",
        metavar="NAMES",
        help="comma-separated methods to show instead of whole classes, e.g. forward,backward "
        "(for kernels:MODULE, its functions)",
    )
    parser.add_argument(
        "--no-kernels",
        dest="kernels",
        action="store_false",
        help="leave out the reference code of the kernels the listed code calls (shown first by default: the math)",
    )
    parser.add_argument(
        "--format",
        dest="listing_format",
        choices=("markdown", "latex"),
        default="markdown",
        help="markdown: ```python blocks under # headings; latex: \\section + lstlisting, for \\input (default: markdown)",
    )
    parser.add_argument(
        "--level", type=int, default=2, metavar="{1,2,3}", help="heading level of each component (default: 2)"
    )
    parser.add_argument("--backend", default="numpy", help="the backend whose components to list (default: numpy)")
    parser.add_argument("--out", metavar="FILE", help="write to FILE (atomically) instead of standard output")


def run(args: argparse.Namespace) -> int:
    import sys

    from corenn.cli.source_listings import render_listing, write_listing

    text = render_listing(
        args.components,
        methods=args.methods,
        fmt=args.listing_format,
        level=args.level,
        backend=args.backend,
        kernels=args.kernels,
    )
    if args.out:
        write_listing(text, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
