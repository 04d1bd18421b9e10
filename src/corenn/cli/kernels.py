"""``corenn kernels``: every declared kernel, where its math is, and what each backend runs for it."""

HELP = "list the declared kernels: where each one's reference (the math) is, and each backend's override"


def add_arguments(parser):
    parser.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help="only this backend (repeatable); by default every installed backend, whose library is then imported",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args):
    import inspect
    from pathlib import Path

    from corenn.cli.common import print_json
    from corenn.plugins import get_plugins

    system = get_plugins()
    backends = args.backend or system.registry.backends()
    for name in backends:
        system.backend(name)  # installs its overrides; an unknown name is an error naming the installed ones
    rows = []
    for declared in system.declared_kernels():
        source = inspect.getsourcefile(declared.reference)
        module_path = Path(*declared.reference.__module__.split("."))
        line = inspect.getsourcelines(declared.reference)[1]
        rows.append(
            {
                "kernel": declared.name,
                "declared_in": declared.qualified_name,
                "distribution": system.declaring_distribution(declared),
                "reference": f"{module_path.with_suffix('.py') if source else module_path}:{line}",
                "file": source,
                "backends": {
                    name: (override.origin if (override := declared.override_for(name)) else "reference")
                    for name in backends
                },
            }
        )
    if args.json:
        print_json(rows)
        return 0
    width = max((len(row["kernel"]) for row in rows), default=6)
    for row in rows:
        print(f"{row['kernel']:<{width}}  {row['reference']}  ({row['distribution'] or 'no plugin'})")
        for name, runs in row["backends"].items():
            print(f"{'':<{width}}    {name:<8} {'the reference' if runs == 'reference' else runs}")
    print(
        f"{len(rows)} kernels. A backend runs its override where it has one, else the reference (the math, "
        "at the path shown); corenn train --kernels reference runs the references alone."
    )
    return 0
