"""``corenn plugins``: every plugin with its distribution, version, status, components and warnings."""

HELP = "list installed plugins, their versions, components, failures and warnings"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="also import every registered factory and build every component that needs no options; exit 1 on a failure",
    )


def run(args):
    from corenn.cli.common import print_json
    from corenn.plugins import get_plugins

    system = get_plugins()
    if args.check:
        for backend in system.registry.backends():
            system.backend(backend)  # imports and checks its kernel overrides: a refused one fails its plugin
    plugins = [info.as_dict() for info in system.plugins]
    failed_checks = 0
    if args.check:
        from corenn.cli.plugin_check import check_components

        results = check_components(system.registry)
        for info in plugins:
            info["check"] = [result.as_dict() for result in results if result.plugin == info["name"]]
        failed_checks = sum(not result.ok for result in results)
    if args.json:
        print_json(plugins)
        return 1 if failed_checks else 0
    for info in plugins:
        print(f"{info['name']}  ({info['distribution']} {info['version']}, {info['module']})  {_status(info)}")
        for warning in info["warnings"]:
            print(f"    warning: {warning}")
        if info["status"] != "ok":
            continue
        for kind, names in info["components"].items():
            print(f"    {kind:<12} {', '.join(names)}")
        if not info["components"]:
            print(f"    {'components':<12} (none registered)")
        lifecycle = [hook for hook in info["hooks"] if hook != "corenn_register_components"]
        if lifecycle:
            print(f"    {'hooks':<12} {', '.join(lifecycle)}")
        if args.check:
            _print_check(info["check"])
    print(
        f"backends: {', '.join(system.registry.backends())}; a component marked [any] is written once and runs "
        "on each of them (corenn kernels: what each backend runs for each kernel)"
    )
    if args.check:
        print(
            "check: every component imports and builds"
            if not failed_checks
            else f"check: {failed_checks} component(s) FAILED"
        )
    return 1 if failed_checks else 0


def _status(info):
    if info["status"] != "ok":
        return f"FAILED: {info['error']}"
    count = len(info["warnings"])
    return f"ok, {count} warning{'s' if count > 1 else ''}" if count else "ok"


def _print_check(results):
    built = sum(result["outcome"] == "built" for result in results)
    imported = [result for result in results if result["outcome"] == "imported"]
    line = f"    {'check':<12} {built} built"
    if imported:
        line += f", {len(imported)} imported only: " + "; ".join(
            f"{r['name']} ({r['why_not_built']})" for r in imported
        )
    print(line)
    for result in results:
        if result["outcome"] == "failed":
            print(f"    check FAILED: {result['kind']} {result['name']!r} ({result['backend']}): {result['error']}")
