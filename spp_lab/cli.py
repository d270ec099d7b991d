"""The ``spp-lab`` command line. Commands that do not train never import torch.

    spp-lab train [CONFIG.yaml] [dotted.key=value ...]   one run (minutes on a CPU)
    spp-lab ls FILE [--json]                             the jobs of an experiment (<1 s)
    spp-lab run FILE [--smoke] [--only EXPR] ...         run what is not done yet
    spp-lab report results/<name> [--paper]              tables and charts (seconds)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spp_lab.errors import UserError


def _schema_help() -> str:
    """Every switch of the run config with its default and meaning, from the pydantic models."""
    from pydantic import BaseModel

    from spp_lab.config import RunConfig

    lines = ["config keys (set in CONFIG.yaml or as dotted.key=value):"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
                continue
            default = field.get_default(call_default_factory=True)
            lines.append(f"  {prefix + name:<26} {field.description or ''} [{default!r}]")

    walk(RunConfig, "")
    return "\n".join(lines)


def load_run_config(path: str | None, overrides: Sequence[str]):
    """A config file (optional) plus dotted overrides, validated."""
    from spp_lab.config import build_config, parse_override, set_dotted
    from spp_lab.errors import load_yaml

    tree = load_yaml(path) if path else {}
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise UserError(f"{path}: expected a mapping of sections (data, model, train, ...)")
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(tree, key, value)
    return build_config(tree, source=path or "config")


def cmd_train(args: argparse.Namespace) -> int:
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]
    cfg = load_run_config(config, overrides)
    from spp_lab.runs import run_dir, run_id
    from spp_lab.train import train_run

    rid = run_id(cfg)
    out = run_dir(cfg, rid)
    m = train_run(cfg, out)
    f, b = m["final"], m["best"]
    test = f" · test top-1 error {m['test']['test_top1_err']:.2f}%" if "test" in m else ""
    print(f"run {rid}: {cfg.model.arch} head={cfg.model.head} · {m['epochs']} epochs · "
          f"final val top-1 error {f['val_top1_err']:.2f}% (best {b['val_top1_err']:.2f}% at "
          f"epoch {b['epoch']}){test} · {m['train_img_per_s']:.0f} img/s · "
          f"{m['wall_time_s']:.1f} s "
          f"→ {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spp-lab", description="Ablation studies of spatial pyramid pooling.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "train", help="train one model", epilog=_schema_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one model and write results/<experiment>/runs/<run_id>/: "
                    "config.yaml, metrics.json, history.csv, log. Example: spp-lab train "
                    "model.head=pool train.epochs=2")
    p.add_argument("config", nargs="?", help="run config YAML (optional)")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("ls", help="list an experiment's jobs and their status (no torch)")
    p.add_argument("file", help="experiment YAML")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--only", action="append", default=[], metavar="EXPR",
                   help="select jobs: key=value[,key=value] (repeatable; any may match)")
    p.add_argument("--smoke", action="store_true", help="list the --smoke variant")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of base, e.g. --set data.root=/data/imagenet")
    p.set_defaults(func=_lazy("spp_lab.runner.commands", "cmd_ls"))

    p = sub.add_parser("run", help="run every job not done yet (rerun = resume)",
                       description="Runs the jobs of an experiment file; a rerun skips done "
                                   "jobs and resumes interrupted ones from their checkpoint.")
    p.add_argument("file", help="experiment YAML")
    p.add_argument("--retry-failed", action="store_true", help="rerun failed jobs too")
    p.add_argument("--force", action="store_true", help="rerun done jobs from scratch")
    p.add_argument("--only", action="append", default=[], metavar="EXPR",
                   help="select jobs: key=value[,key=value] (repeatable; any may match)")
    p.add_argument("--smoke", action="store_true",
                   help="a few batches per job into results/<name>-smoke/ (seconds)")
    p.add_argument("--dry-run", action="store_true", help="list what would run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of base, e.g. --set data.root=/data/imagenet")
    p.add_argument("--workers", type=int, help="CPU jobs at once (default: cores/2)")
    p.add_argument("--gpus", help="GPU ids to use, e.g. 0,1 (default: all visible)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="Ray cluster address (default: a local instance)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.set_defaults(func=_lazy("spp_lab.runner.commands", "cmd_run"))

    p = sub.add_parser("report", help="tables and charts into results/<name>/report/ (no torch)")
    p.add_argument("path", nargs="?", help="results/<name> or the experiment YAML")
    p.add_argument("--paper", action="store_true",
                   help="the paper's own Table 2 chart (alone, or beside an experiment's)")
    p.add_argument("--output-dir", default="results", help="where --paper alone writes")
    p.add_argument("--wandb", action="store_true",
                   help="also log the tables and charts as a W&B summary run (job_type report)")
    p.set_defaults(func=_lazy("spp_lab.runner.commands", "cmd_report"))

    p = sub.add_parser("sync", help="upload an experiment's offline W&B runs (wandb sync)")
    p.add_argument("path", help="results/<name>")
    p.set_defaults(func=_lazy("spp_lab.runner.commands", "cmd_sync"))
    return parser


def _lazy(module: str, name: str):
    """A command function imported only when that command runs."""

    def call(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return call


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"spp-lab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spp-lab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `spp-lab ls FILE | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
