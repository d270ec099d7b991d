"""``spp-lab models``: the names ``model.arch`` takes, and what each network is."""

from __future__ import annotations

from spp_lab.errors import UserError


def cmd_models(args) -> int:
    """The registered networks, then every catalog network whose name holds the pattern."""
    from spp_lab.models import catalog, list_models

    names = [n for n in dict.fromkeys(list_models() + catalog.all_names()) if args.pattern in n]
    if not names:
        raise UserError(f"models: no network name contains {args.pattern!r}; spp-lab models "
                        "lists them all")
    if not args.info:
        print("\n".join(names))
        return 0
    if len(names) > 40:
        raise UserError(f"models --info: {len(names)} names contain {args.pattern!r}; narrow "
                        "the pattern to 40 at most")
    for name in names:
        print(_model_line(name))
    return 0


def _model_line(name: str) -> str:
    from spp_lab.models import arch_spec, catalog

    try:
        spec = arch_spec(name)
        if spec.source is None:
            return (f"{name:<28} registered here (CPU-sized switches: "
                    f"{', '.join(sorted(spec.options))})")
        f = catalog.facts(name)
    except ValueError as err:  # not a CNN: no conv map for a pyramid
        return f"{name:<28} not usable: {str(err).split(name, 1)[-1].strip()}"
    weights = ", ".join(f"{t}{'*' if t == f['default'] else ''}" for t in f["weights"])
    return (f"{name:<28} {f['channels']} channels, {f['input_size']} px "
            f"({f['sides'][str(f['input_size'])]}×{f['sides'][str(f['input_size'])]} map), "
            f"from {f['min_side']} px; weights: {weights or 'none'}")
