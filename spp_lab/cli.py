"""The ``spp-lab`` command line. Commands that do not train never import torch.

    spp-lab train [CONFIG.yaml] [dotted.key=value ...]   one run (minutes on a CPU)
    spp-lab ls FILE [--json]                             the jobs of an experiment (<1 s)
    spp-lab run FILE [--smoke] [--only EXPR] ...         run what is not done yet
    spp-lab report results/<name> [--paper]              tables and charts (seconds)
"""

from __future__ import annotations

import argparse
import errno
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


def build_parser() -> argparse.ArgumentParser:
    from spp_lab.runner.executors import executor_names

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
    p.set_defaults(func=_lazy("cmd_train"))

    p = sub.add_parser("ls", help="list an experiment's jobs and their status (no torch)")
    p.add_argument("file", help="experiment YAML")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--only", action="append", default=[], metavar="EXPR",
                   help="select jobs: key=value[,key=value] (repeatable; any may match)")
    p.add_argument("--smoke", action="store_true", help="list the --smoke variant")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of base, e.g. --set data.root=/data/imagenet")
    p.add_argument("--executor", choices=executor_names(), default="local",
                   help="list the ids `run --executor` would use (default: local)")
    p.set_defaults(func=_lazy("cmd_ls"))

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
    p.add_argument("--workers", type=_positive, help="CPU jobs at once (default: cores/2)")
    p.add_argument("--gpus", help="GPU ids to use, e.g. 0,1 (default: all visible)")
    p.add_argument("--executor", choices=executor_names(), default="local",
                   help="where jobs run (default: local)")
    p.add_argument("--address", help="Ray cluster address (default: a local instance)")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="--executor slurm: partition, time_min, gpus, cpus, mem_gb, cluster "
                        "(over the file's slurm: section)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.set_defaults(func=_lazy("cmd_run"))

    p = sub.add_parser("report", help="tables and charts into results/<name>/report/ (no torch)")
    p.add_argument("path", nargs="?", help="results/<name> or the experiment YAML")
    p.add_argument("--paper", action="store_true",
                   help="the paper's own Table 2 chart (alone, or beside an experiment's)")
    p.add_argument("--output-dir", default="results", help="where --paper alone writes")
    p.add_argument("--wandb", action="store_true",
                   help="also log the tables and charts as a W&B summary run (job_type report)")
    p.set_defaults(func=_lazy("cmd_report"))

    p = sub.add_parser("sync", help="upload an experiment's offline W&B runs (wandb sync)")
    p.add_argument("path", help="results/<name>")
    p.set_defaults(func=_lazy("cmd_sync"))
    return parser


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"spp-lab: error: {err}", file=sys.stderr)
        return err.code
    except OSError as err:
        from spp_lab.runfolder import DISK_ERRORS

        if err.errno not in (*DISK_ERRORS, errno.EACCES):
            raise
        print(f"spp-lab: error: {err.filename or 'results'}: {err.strerror}. Finished runs "
              "are kept; free space or make the folder writable, then run again",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spp-lab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `spp-lab ls FILE | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
