"""``corenn plugins``: every plugin with its distribution, version, status, components and warnings."""

HELP = "list installed plugins, their versions, components, failures and warnings"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="also import every registered factory, build every component (with its example options where it "
        "needs some), check the gradients of every layer, activation and loss, hold every kernel override to its "
        "reference, and time each plugin's imports; exit 1 when a plugin failed to load, a check failed or a "
        "component could not be checked",
    )


def run(args):
    import sys
    import time

    from corenn.backend import DEFAULT_BACKEND
    from corenn.cli.common import print_json
    from corenn.errors import PluginError
    from corenn.plugins import SLOW_IMPORT_SECONDS, get_plugins

    started = time.perf_counter()
    try:
        system = get_plugins()
    except PluginError as exc:  # strict mode: the first failure is the error; --debug shows where it came from
        if getattr(args, "debug", False) and exc.__cause__ is not None:
            import traceback

            print("".join(traceback.format_exception(exc.__cause__)), file=sys.stderr, end="")
        raise
    # Making a backend imports and checks the kernel overrides registered for it, and a refused
    # one fails its plugin: numpy's always (every run makes it), every backend's with --check
    # (torch's is not made otherwise: listing plugins never imports torch).
    for backend in system.registry.backends() if args.check else [DEFAULT_BACKEND]:
        system.backend(backend)
    plugins = [info.as_dict() | {"slow": info.slow} for info in system.plugins]
    failed_checks = unchecked = 0
    if args.check:
        from corenn.cli.plugin_check import check_components, check_overrides

        results = check_components(system.registry) + check_overrides(system)
        for info in plugins:
            info["check"] = [result.as_dict() for result in results if result.plugin == info["name"]]
            info["components_import_seconds"] = sum(
                result.import_seconds for result in results if result.plugin == info["name"]
            )
        failed_checks = sum(result.outcome == "failed" for result in results)
        unchecked = sum(result.outcome == "unchecked" for result in results)
    failed_plugins = sum(info["status"] == "failed" for info in plugins)
    status = 1 if args.check and (failed_checks or unchecked or failed_plugins) else 0
    if args.json:
        print_json(plugins)
        _print_tracebacks(args, plugins)
        return status
    for info in plugins:
        print(f"{info['name']}  ({info['distribution']} {info['version']}, {info['module']})  {_status(info)}")
        for warning in info["warnings"]:
            print(f"    warning: {warning}")
        if info["slow"]:
            print(
                f"    warning: took {info['import_seconds']:.2f} s to import and register (above "
                f"{SLOW_IMPORT_SECONDS:g} s); every corenn command pays it: import heavy modules in the factories"
            )
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
            _print_check(info)
    print(
        f"backends: {', '.join(system.registry.backends())}; a component marked [any] is written once and runs "
        "on each of them (corenn kernels: what each backend runs for each kernel)"
    )
    if args.check:
        problems = []
        if failed_checks:
            problems.append(f"{failed_checks} component(s) FAILED")
        if unchecked:
            problems.append(f"{unchecked} NOT CHECKED (each line says what to declare)")
        if failed_plugins:
            problems.append(f"{failed_plugins} plugin(s) failed to load")
        seconds = time.perf_counter() - started
        print(
            f"check: {'; '.join(problems)} ({seconds:.1f} s; --debug prints the tracebacks)"
            if problems
            else f"check: every component imports and builds, every gradient checked ({seconds:.1f} s)"
        )
    _print_tracebacks(args, plugins)
    return status


def _status(info):
    if info["status"] == "disabled":
        return "disabled (CORENN_DISABLE_PLUGINS)"
    if info["status"] != "ok":
        return f"FAILED: {info['error']}"
    count = len(info["warnings"])
    return f"ok, {count} warning{'s' if count > 1 else ''}" if count else "ok"


def _print_check(info):
    results = info["check"]
    done = [result for result in results if result["outcome"] == "built"]
    built = [result for result in done if result["kind"] != "override"]
    checked = sum(result["gradient_error"] is not None for result in built)
    overrides = len(done) - len(built)
    parts = [f"{len(built)} built ({checked} gradient-checked)"]
    if overrides:
        parts.append(f"{overrides} kernel override{'s' if overrides > 1 else ''} held to the reference")
    plain = [result for result in results if result["outcome"] == "imported"]
    if plain:
        parts.append(f"{len(plain)} imported ({', '.join(sorted({_plural(r['kind']) for r in plain}))})")
    unchecked = [result for result in results if result["outcome"] == "unchecked"]
    if unchecked:
        parts.append(
            f"{len(unchecked)} NOT CHECKED: "
            + "; ".join(f"{r['kind']} {r['name']} ({r['why_not_built']})" for r in unchecked)
        )
    print(f"    {'check':<12} {', '.join(parts)}")
    print(
        f"    {'import':<12} {info['import_seconds'] or 0.0:.3f} s (the plugin module, every command), "
        f"{info['components_import_seconds']:.3f} s (its components' modules, when used)"
    )
    for result in results:
        if result["outcome"] == "failed":
            print(f"    check FAILED: {result['kind']} {result['name']!r} ({result['backend']}): {result['error']}")


def _plural(kind):
    return {"dataset": "data sets (not loaded)", "backend": "backends", "kernels": "modules of kernel overrides"}[kind]


def _print_tracebacks(args, plugins):
    """With ``--debug``: the traceback of every plugin that failed to load and of every check
    that raised, on stderr."""
    import sys

    if not getattr(args, "debug", False):
        return
    for info in plugins:
        if info.get("traceback"):
            print(f"--- plugin {info['name']!r} ({info['distribution']} {info['version']}) failed:", file=sys.stderr)
            print(info["traceback"], file=sys.stderr, end="")
        for result in info.get("check", ()):
            if result.get("traceback"):
                print(
                    f"--- check of {result['kind']} {result['name']!r} ({result['backend']}) failed:", file=sys.stderr
                )
                print(result["traceback"], file=sys.stderr, end="")
