"""The ``spp-lab`` command line. Commands that do not train never import torch.

    spp-lab train [CONFIG.yaml] [dotted.key=value ...]   one run (minutes on a CPU)
    spp-lab ls FILE [--json]                             the jobs of an experiment (<1 s)
    spp-lab run FILE [--smoke] [--only EXPR] ...         run what is not done yet
    spp-lab run -m model.head=pool,spp --seeds 0-2       a grid without a file
    spp-lab report results/<name> [--paper]              tables and charts (seconds)
    spp-lab export-sweep FILE                            a W&B sweep.yaml
    spp-lab export RUN_DIR --size N                      ONNX of a finished run
    spp-lab models [PATTERN] [--info]                    the networks model.arch takes
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from spp_lab.errors import UserError


def _choices(annotation) -> list[str]:
    """The allowed values of a Literal field (also inside Optional[...] or list[...])."""
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return [str(a) for a in args]
    if origin is list:
        return _choices(args[0])
    parts = [a for a in args if a is not type(None)]
    return _choices(parts[0]) if origin is not None and len(parts) == 1 else []


def _schema_help() -> str:
    """Every switch of the run config: default, meaning and allowed values (the pydantic
    models are the one source); values are YAML, as in a config file."""
    import json

    from pydantic import BaseModel

    from spp_lab.config import RunConfig
    from spp_lab.schema import field_choices

    lines = ["config keys (set in CONFIG.yaml or as dotted.key=value; values are YAML):"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
                continue
            default = json.dumps(field.get_default(call_default_factory=True),
                                 ensure_ascii=False)
            choices = field_choices(field) or _choices(ann)
            allowed = f" One of: {', '.join(choices)}." if choices else ""
            lines.append(f"  {prefix + name:<26} {field.description or ''}.{allowed} "
                         f"Default: {default}")

    walk(RunConfig, "")
    return "\n".join(lines)


def _experiment_args(p: argparse.ArgumentParser, executors: list[str]) -> None:
    """What ``ls`` and ``run`` share: the experiment (a file, or ``-m`` overrides) and
    which of its jobs."""
    p.add_argument("targets", nargs="*", metavar="FILE | KEY=V1,V2",
                   help="an experiment file, or with -m the overrides that sweep")
    p.add_argument("-m", "--multirun", action="store_true",
                   help="build the experiment from KEY=V1,V2 overrides (Hydra's multirun)")
    p.add_argument("--seeds", default="0", help="-m: seeds, e.g. 0-2 or 0,3 (default: 0)")
    p.add_argument("--name", help="-m: the experiment's name (default: m-<swept keys>)")
    p.add_argument("--base", metavar="CONFIG.yaml", help="-m: a run config to start from")
    p.add_argument("--print-experiment", action="store_true",
                   help="print the equivalent experiment file and exit")
    p.add_argument("--only", action="append", default=[], metavar="EXPR",
                   help="select jobs: key=value[,key=value] (repeatable; any may match)")
    p.add_argument("--smoke", action="store_true",
                   help="each job cut to 2 batches of 8, into results/<name>-smoke/ (seconds)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of base, e.g. --set data.root=/data/imagenet")
    p.add_argument("--target", type=float, metavar="D",
                   help="add seeds until every change's 95%% CI is ±D (the metric's units); "
                   "over the file's seeds (spp_lab.stopping)")
    p.add_argument("--budget", metavar="N|10m",
                   help="with --target: at most N added jobs, or that much job time")
    p.add_argument("--executor", choices=executors, default="local",
                   help="where jobs run (default: local); ls lists the ids it would use")
    _executor_args(p)


def _executor_args(p: argparse.ArgumentParser) -> None:
    """``--<executor> KEY=VALUE`` for each registered executor with settings, and a flag of
    its own for each shorthand setting (``--workers``), all from the settings schemas."""
    from spp_lab.runner.executors import executor_names, executor_spec

    g = p.add_argument_group("executor settings (over the experiment file's sections)")
    for name in executor_names():
        spec = executor_spec(name)
        fields = spec.settings.model_fields
        if fields:
            g.add_argument(f"--{name}", action="append", default=[], metavar="KEY=VALUE",
                           dest=f"executor_{name}",
                           help=f"--executor {name}: {', '.join(fields)}")
        for key in spec.shorthands():
            g.add_argument(f"--{key.replace('_', '-')}", dest=f"shorthand_{key}",
                           metavar=key.upper(), help=f"{name}: {fields[key].description}")


def build_parser() -> argparse.ArgumentParser:
    from spp_lab.runner.executors import executor_names

    parser = argparse.ArgumentParser(
        prog="spp-lab", description="Ablation studies of spatial pyramid pooling.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _grid_parsers(sub, executor_names())
    _data_parser(sub)
    _results_parsers(sub)
    return parser


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train one model", epilog=_schema_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one model and write results/<experiment>/runs/<run_id>/: "
                    "config.yaml, metrics.json, history.csv, log. Example: spp-lab train "
                    "model.head=pool train.epochs=2")
    p.add_argument("config", nargs="?", help="run config YAML (optional)")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
    p.add_argument("--print-config", "--print_config", action="store_true",
                   help="print the resolved config (YAML that train accepts back) and exit")
    p.add_argument("--experiment", metavar="FILE",
                   help="train one job of an experiment file, picked by condition=, seed= "
                        "and its grid values (what a W&B sweep agent runs)")
    p.add_argument("--smoke", action="store_true",
                   help="cut to 2 batches of 8, into results/<experiment>-smoke/ (seconds)")
    p.set_defaults(func=_lazy("cmd_train"))


def _grid_parsers(sub, executors: list[str]) -> None:
    p = sub.add_parser("ls", help="list an experiment's jobs and their status (no torch)")
    _experiment_args(p, executors)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config", metavar="RUN_ID", help="print one job's resolved config")
    p.set_defaults(func=_lazy("cmd_ls"))
    p = sub.add_parser("run", help="run every job not done yet (rerun = resume)",
                       description="Runs the jobs of an experiment file (or of -m overrides); "
                                   "a rerun skips done jobs and resumes interrupted ones from "
                                   "their checkpoint.")
    _experiment_args(p, executors)
    p.add_argument("--retry-failed", action="store_true",
                   help="rerun failed and diverged jobs too")
    p.add_argument("--force", action="store_true", help="rerun done jobs from scratch")
    p.add_argument("--dry-run", action="store_true", help="list what would run")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.set_defaults(func=_lazy("cmd_run"))


def _data_parser(sub) -> None:
    p = sub.add_parser("check-data", help="decode every image a config or experiment reads",
                       description="Decodes every image of the data (in parallel, skipping "
                                   "files verified before), prints each split's classes with "
                                   "their image counts and names each bad file; exit 2 if "
                                   "any is bad.")
    p.add_argument("targets", nargs="*", metavar="[DIR | FILE] [KEY=VALUE]",
                   help="an image folder, an experiment file or run config, dotted overrides")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key (of base, for an experiment file)")
    p.set_defaults(func=_lazy("cmd_check_data"))
    p = sub.add_parser("models", help="the networks model.arch takes (no torch once listed)",
                       description="Lists the registered networks and every torchvision and "
                                   "timm classification network, by the name model.arch "
                                   "takes; with --info, each one's conv map and weights.")
    p.add_argument("pattern", nargs="?", default="",
                   help="only names containing this (e.g. convnext, timm/resnet)")
    p.add_argument("--info", action="store_true",
                   help="channels, input size, smallest side and weights of each (at most 40)")
    p.set_defaults(func=_lazy("cmd_models"))


def _results_parsers(sub) -> None:
    p = sub.add_parser("report", help="tables and charts into results/<name>/report/ (no torch)")
    p.add_argument("path", nargs="?", help="results/<name> or the experiment YAML")
    p.add_argument("--paper", action="store_true",
                   help="the paper's own Table 2 chart (alone, or beside an experiment's)")
    p.add_argument("--output-dir", default="results", help="where --paper alone writes")
    p.add_argument("--wandb", action="store_true",
                   help="also log the tables and charts as a W&B summary run (job_type report)")
    p.set_defaults(func=_lazy("cmd_report"))
    p = sub.add_parser("export-sweep", help="write a W&B sweep.yaml for `wandb agent`")
    p.add_argument("file", help="experiment YAML")
    p.add_argument("-o", "--output", default="sweep.yaml", help="where to write it")
    p.set_defaults(func=_lazy("cmd_export_sweep"))
    p = sub.add_parser("export", help="a finished run's model as ONNX at one input size")
    p.add_argument("run", help="results/<name>/runs/<run_id>")
    p.add_argument("--size", type=_positive, help="input side, px (default: data.image_size)")
    p.add_argument("-o", "--output", help="default: <run>/model-<size>px.onnx")
    p.set_defaults(func=_lazy("cmd_export"))
    p = sub.add_parser("sync", help="upload an experiment's offline W&B runs (wandb sync)")
    p.add_argument("path", help="results/<name>")
    p.set_defaults(func=_lazy("cmd_sync"))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}")
    return value


def _lazy(name: str):
    """The handler ``spp_lab.commands.<name>``, imported only when its command runs."""

    def call(args: argparse.Namespace) -> int:
        from spp_lab import commands

        return getattr(commands, name)(args)

    return call


def main(argv: Sequence[str] | None = None) -> int:
    from spp_lab import plugins

    try:
        plugins.load()
    except UserError as err:
        print(f"spp-lab: error: {err}", file=sys.stderr)
        return err.code
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"spp-lab: error: {err}", file=sys.stderr)
        return err.code
    except BrokenPipeError:  # e.g. `spp-lab ls FILE | head`
        sys.stderr.close()
        return 0
    except OSError as err:
        from spp_lab.fileio import DISK_ERRORS

        if err.errno not in (*DISK_ERRORS, errno.EACCES):
            raise
        print(f"spp-lab: error: {err.filename or 'results'}: {err.strerror}. Finished runs "
              "are kept; free space or make the folder writable, then run again",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spp-lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
