"""Live progress of a grid: a rich table on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from spp_lab.fileio import read_json
from spp_lab.results import RunFolder
from spp_lab.runner.job import Job


def describe(job: Job) -> str:
    vals = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in dict(job.cell).items())
    return f"{job.condition}" + (f" · {vals}" if vals else "") + f" · seed {job.seed}"


class Progress:
    def __init__(self, stream=sys.stdout, live: bool | None = None) -> None:
        self.stream = stream
        self.live_mode = bool(stream and stream.isatty()) if live is None else live
        self.running: dict[str, tuple[Any, Path, float]] = {}
        self.counts = {"done": 0, "failed": 0, "other": 0}
        self.total, self._seen = 0, {}
        self.epochs_total, self.epochs_done, self._finished = 0, {}, {}
        self._live = None

    def _print(self, text: str) -> None:
        if self.stream is None:
            return
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def start(self, jobs: list) -> None:
        """A wave of ``jobs`` starts; a study's later waves add to the counts and the ETA."""
        if not self.total:
            self.t0 = time.time()
        self.total += len(jobs)
        self.epochs_total += sum(j.config.train.epochs for j in jobs)
        if self.live_mode and self.stream is not None:
            from rich.live import Live

            self._live = Live(self._table(), refresh_per_second=2, transient=True)
            self._live.start()

    def begin(self, job: Job, run_dir: Path) -> None:
        self.running[job.run_id] = (job, run_dir, time.time())
        if not self.live_mode:
            self._print(f"start  {job.run_id}  {describe(job)}")

    def finish(self, job: Job, what: str, reason: str | None = None) -> None:
        """One attempt ended: ``what`` is done, failed, diverged, interrupted, ...; a failed
        or diverged job's one-line ``reason`` is printed beside it."""
        self.running.pop(job.run_id, None)
        if what in ("done", "failed", "diverged") or what.startswith("interrupted"):
            self._finished[job.run_id] = job.config.train.epochs  # no more epochs to come
        key = what if what in ("done", "failed") else "other"
        self.counts[key] += 1
        tail = ""
        if what == "done":
            folder = job.folder
            metrics = read_json(folder.metrics_file) or {}
            if "final" in metrics:
                tail = f" · val top-1 err {metrics['final']['val_top1_err']:.2f}%"
            if "test_top1_err" in metrics.get("test", {}):
                tail += f" · test {metrics['test']['test_top1_err']:.2f}%"
        if reason:
            tail += f": {reason}"
        self._print(f"{what:<6} {job.run_id}  {describe(job)}{tail}  [{self._summary()}]")

    def _eta(self) -> str:
        """Time left at the rate epochs have been completed so far (all jobs together)."""
        done = sum(self.epochs_done.values())
        left = self.epochs_total - done - sum(
            e - self.epochs_done.get(r, 0) for r, e in self._finished.items())
        if done == 0 or left <= 0:
            return "?" if left > 0 else "0.0 min"
        return f"{left * (time.time() - self.t0) / done / 60:.1f} min"

    def _summary(self) -> str:
        c = self.counts
        return (f"{c['done']}/{self.total} done, {c['failed']} failed, "
                f"{len(self.running)} running, ETA {self._eta()}")

    def _table(self):
        from rich.table import Table

        table = Table(title=f"spp-lab · {self._summary()}", expand=False)
        for col in ("run", "job", "epoch", "val top-1 err %", "elapsed"):
            table.add_column(col)
        for rid, (job, rdir, t0) in self.running.items():
            p = read_json(RunFolder(rdir).progress) or {}
            err = p.get("val_top1_err")
            table.add_row(rid, describe(job), f"{p.get('epoch', 0)}/{p.get('epochs', '?')}",
                          "" if err is None else f"{err:.2f}", f"{time.time() - t0:.0f} s")
        return table

    def refresh(self) -> None:
        for rid, (_, rdir, _) in self.running.items():
            p = read_json(RunFolder(rdir).progress) or {}
            if p.get("epoch"):
                self.epochs_done[rid] = p["epoch"]
        if self._live is not None:
            self._live.update(self._table())
            return
        for rid, (_, rdir, _) in self.running.items():
            p = read_json(RunFolder(rdir).progress) or {}
            if p.get("epoch") and self._seen.get(rid) != p["epoch"]:
                self._seen[rid] = p["epoch"]
                self._print(f"epoch  {rid}  {p['epoch']}/{p['epochs']} · val top-1 err "
                            f"{p['val_top1_err']:.2f}%")

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
