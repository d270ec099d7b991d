"""The run-folder contract and the runner's bookkeeping, in process: states, schemas,
atomic writes, settling an attempt's exit code, and the pre-run checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spp_lab.config import build_config
from spp_lab.fileio import Corrupt, JobLock, write_atomic, write_json
from spp_lab.results import HISTORY_FIELDS, ExperimentFolder, ExperimentSpec, RunFolder
from spp_lab.runner.executors import base
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress

METRICS = {"final": {"val_top1_err": 40.0, "val_top5_err": 10.0}, "epochs": 2,
           "first_epoch": 1, "best": {"val_top1_err": 38.0, "epoch": 1},
           "test": {"test_top1_err": 41.0}}
ROWS = [{"epoch": 1, "val_top1_err": 38.0, "train_size": "40"},
        {"epoch": 2, "val_top1_err": 40.0, "train_size": "32/40"}]


def done_run(tmp_path: Path, name: str = "r1") -> RunFolder:
    run = RunFolder(tmp_path / name)
    run.update_status(state="done", condition="c", seed=0, attempts=1)
    write_json(run.metrics_file, METRICS)
    run.write_history(ROWS)
    return run


def test_states_of_a_run_folder(tmp_path):
    run = RunFolder(tmp_path / "r")
    assert run.state().state == "new" and run.status() == {"state": "new", "attempts": 0}
    run.update_status(state="running", attempts=1)
    assert run.state().state == "interrupted"  # nobody holds the lock: its process died
    lock = JobLock(run.lock_file)
    assert lock.acquire()
    try:
        assert run.state().state == "running" and run.lock.held_elsewhere()
        assert not JobLock(run.lock_file).acquire()  # a second runner cannot take it
    finally:
        lock.release()
    assert not run.lock.held_elsewhere()
    run.update_status(state="failed", error="ValueError: boom")
    assert (run.state().state, run.state().reason) == ("failed", "ValueError: boom")
    run.update_status(state="diverged", error="loss nan")
    assert (run.state().state, run.state().reason) == ("diverged", "loss nan")
    run.update_status(state="done")
    st = run.state()
    assert st.state == "corrupt" and "metrics.json: missing for a done run" in st.reason
    good = done_run(tmp_path)
    assert good.state().state == "done" and good.state().reason is None
    assert good.status()["attempts"] == 1 and good.metrics()["final"]["val_top1_err"] == 40.0


@pytest.mark.parametrize("file,content,why", [
    ("metrics.json", b'{"final": {"val_top1_err": 40.0}', "not valid JSON"),
    ("metrics.json", json.dumps({**METRICS, "final": {"val_top1_err": 140.0}}).encode(),
     "less than or equal to 100"),
    ("metrics.json", json.dumps({**METRICS, "epochs": 0}).encode(), "epochs"),
    ("status.json", b'{"state": "finished"}', "state"),
    ("status.json", b"\xff\xfe\x00", "not valid JSON"),
    ("history.csv", b"epcoh,loss\n0,1\n", "header is not"),
    ("history.csv", b"epoch,val_loss,val_loss\n0,1,2\n", "each column named once"),
    ("history.csv", b"\x00\x01,\x02\n", "header is not"),
    ("history.csv", (",".join(HISTORY_FIELDS) + "\n1" + ",x" * (len(HISTORY_FIELDS) - 1)
                     + "\n").encode(),
     "row 1 is not numbers"),
    ("history.csv", (",".join(HISTORY_FIELDS) + "\n2" + ",1" * (len(HISTORY_FIELDS) - 1)
                     + "\n").encode(),
     "row 1 is epoch 2, not 1"),
    ("history.csv", b"\xff\xfe", "not text"),
])
def test_every_file_is_validated_and_named(tmp_path, file, content, why):
    run = done_run(tmp_path)
    (run.path / file).write_bytes(content)
    st = run.state()
    assert st.state == "corrupt" and file in st.reason and why in st.reason
    with pytest.raises(Corrupt):
        run.history_rows() if file == "history.csv" else (
            run.metrics() if file == "metrics.json" else run.status())


def test_history_round_trips_and_update_status_replaces_a_corrupt_status(tmp_path):
    run = done_run(tmp_path)
    rows = run.history_rows()
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["train_size"] == "32/40"
    assert rows[0]["val_top1_err"] == 38.0 and rows[0]["lr"] is None
    run.status_file.write_text("garbage")
    assert run.update_status(state="interrupted") == {"state": "interrupted", "attempts": 0}


def test_history_rows_skip_blank_lines_and_fill_short_rows(tmp_path):
    run = RunFolder(tmp_path / "r")
    head = ",".join(HISTORY_FIELDS)
    write_atomic(run.history, head + "\n")
    assert run.history_rows() == []
    write_atomic(run.history, f"{head}\n\n1,24-32,1.5\n\n2\n")
    rows = run.history_rows()
    assert rows[0] == {**dict.fromkeys(HISTORY_FIELDS), "epoch": 1, "train_size": "24-32",
                       "train_loss": 1.5}
    assert rows[1] == {**dict.fromkeys(HISTORY_FIELDS), "epoch": 2}
    # 0.1.0 counted from 0: its histories and metrics read as counted from 1
    write_atomic(run.history, f"{head}\n0,24,1.5\n1,24,1.0\n")
    assert [r["epoch"] for r in run.history_rows()] == [1, 2]
    write_atomic(run.history, f"{head}\n0,24,1.5\n2,24,1.0\n")
    with pytest.raises(Corrupt, match="row 2 is epoch 2, not 1"):
        run.history_rows()
    old = {k: v for k, v in METRICS.items() if k != "first_epoch"} | {
        "best": {"val_top1_err": 38.0, "epoch": 0}}
    write_atomic(run.metrics_file, json.dumps(old))
    assert run.metrics()["best"]["epoch"] == 1 and run.metrics()["first_epoch"] == 1
    assert list(rows[1]) == list(HISTORY_FIELDS)
    write_atomic(run.history, f"{head}\n0{',1' * len(HISTORY_FIELDS)}\n")  # one too many
    with pytest.raises(Corrupt, match="row 1 is not numbers"):
        run.history_rows()
    write_atomic(run.history, f"{head}\n0.0\n")
    with pytest.raises(Corrupt, match="row 1 is not numbers"):
        run.history_rows()


def test_config_json_is_read_first_and_config_yaml_is_the_fallback(tmp_path):
    import yaml

    run = RunFolder(tmp_path / "r")
    data = {"model": {"head": "spp", "levels": [6, 3, 2, 1]}, "data": {"name": "shapes"}}
    run.write_config(data)
    for text in (json.loads(run.config_json.read_text()),
                 yaml.safe_load(run.config.read_text()), run.read_config()):
        assert text == data and list(text) == ["model", "data"]  # the models' key order
    run.config.write_text("model: {head: pool}\n")  # a person's edit of config.yaml
    assert run.read_config() == data
    assert run.read_config(fast=False) == {"model": {"head": "pool"}}
    run.config_json.unlink()  # a folder from before config.json
    assert run.read_config() == {"model": {"head": "pool"}}
    run.config_json.write_text('{"model": ')
    with pytest.raises(Corrupt) as err:
        run.read_config()
    assert err.value.path == run.config_json and "not JSON" in str(err.value)
    run.config_json.write_text("[1]")
    with pytest.raises(Corrupt, match="config.json: not a mapping"):
        run.read_config()
    assert RunFolder(tmp_path / "empty").read_config() == {}


def test_write_atomic_leaves_the_old_file_or_the_new_one(tmp_path):
    path = tmp_path / "f.json"
    write_atomic(path, "old")
    with pytest.raises(TypeError):
        write_atomic(path, object())  # type: ignore[arg-type]  (fails mid-write)
    assert path.read_text() == "old" and not list(tmp_path.glob(".*.tmp"))
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    with pytest.raises(ValueError):
        write_json(path, {"x": float("nan")})  # nothing non-finite is written
    assert path.read_bytes() == b"new"


def test_reset_forgets_results_but_keeps_config_and_log(tmp_path):
    run = done_run(tmp_path)
    run.config.write_text("a: 1\n")
    run.log.write_text("log")
    run.last_ckpt.parent.mkdir()
    run.last_ckpt.write_bytes(b"x")
    run.reset()
    assert run.state().state == "new" and run.config.exists() and run.log.exists()
    assert not run.checkpoints.exists() and not run.metrics_file.exists()


def test_experiment_folder_keeps_to_the_current_run_ids(tmp_path):
    folder = ExperimentFolder(tmp_path / "x")
    for rid in ("a", "b", "c"):
        done_run(folder.runs_dir, rid)
    assert [r.run_id for r in folder.run_folders()[0]] == ["a", "b", "c"]  # no spec: all
    folder.write_spec(ExperimentSpec(name="x", run_ids=["c", "a"]))
    runs, older = folder.run_folders()
    assert [r.run_id for r in runs] == ["a", "c"] and older == 1
    assert folder.spec().run_ids == ["c", "a"]
    assert len(folder.run_folders(current_only=False)[0]) == 3


class Seen(Progress):
    def __init__(self):
        super().__init__(None)
        self.events: list[tuple[str, str | None]] = []

    def finish(self, job, what, reason=None):
        assert job.run_id == "r1"  # the job that ended, always named
        self.events.append((what, reason))


def job(tmp_path, rid="r1") -> Job:
    return Job(rid, "c", 0, {}, build_config({"output_dir": str(tmp_path), "experiment": "e"}))


def settled(tmp_path, code: int, attempt: int = 1, retries: int = 1, status=None,
            **stopping):
    j, out, prog = job(tmp_path), base.Outcome(), Seen()
    run = RunFolder(tmp_path / "e" / "runs" / j.run_id)
    if status:
        run.update_status(**status)
    retry = base.settle(code, j, attempt, retries, out, prog, **stopping)
    return retry, out, prog.events, run


def test_settle_every_exit_code(tmp_path):
    retry, out, ev, _ = settled(tmp_path / "a", base.EXIT_DONE)
    assert (retry, out.done, ev) == (False, ["r1"], [("done", None)])
    retry, out, ev, _ = settled(tmp_path / "b", base.EXIT_BUSY)
    assert (retry, out.busy, ev) == (False, ["r1"], [("running elsewhere", None)])
    retry, out, ev, run = settled(tmp_path / "c", base.EXIT_INTERRUPTED,
                                  status={"state": "running"})
    assert (retry, out.interrupted, ev) == (False, ["r1"], [("interrupted", None)])
    assert run.status()["state"] == "interrupted" and run.status()["ended"].endswith("+00:00")
    retry, out, ev, _ = settled(tmp_path / "d", base.EXIT_NO_SPACE)
    assert not retry and out.interrupted == ["r1"] and "No space left" in out.stopped
    assert ev == [("interrupted", None)]
    # A process that died without a status: failed with its exit code, retried once.
    retry, out, ev, run = settled(tmp_path / "e", -9)
    assert retry and out.failed == [] and ev == [("failed, retry 1/1",
                                                  "job process exited with code -9")]
    assert run.status()["state"] == "failed" and run.status()["ended"].endswith("+00:00")
    assert run.status()["error"] == "job process exited with code -9"
    retry, out, ev, _ = settled(tmp_path / "f", base.EXIT_FAILED, attempt=2,
                                status={"state": "failed", "error": "RuntimeError: x"})
    assert not retry and out.failed == ["r1"] and out.reasons == {"r1": "RuntimeError: x"}
    assert ev == [("failed", "RuntimeError: x")]
    # No retry fixes a user error or a divergence.
    retry, out, ev, _ = settled(tmp_path / "g", base.EXIT_USER, retries=3,
                                status={"state": "failed", "error": "data.root: missing"})
    assert not retry and out.failed == ["r1"] and ev == [("failed", "data.root: missing")]
    retry, out, ev, _ = settled(tmp_path / "h", base.EXIT_DIVERGED, retries=3,
                                status={"state": "diverged", "error": "loss nan"})
    assert not retry and out.diverged == ["r1"] and ev == [("diverged", "loss nan")]
    retry, out, ev, _ = settled(tmp_path / "i", base.EXIT_FAILED, stopping=True,
                                status={"state": "running"})
    assert not retry and out.interrupted == ["r1"]  # stopping: not a failure
    assert ev == [("interrupted", None)]
    retry, out, ev, _ = settled(tmp_path / "j", base.EXIT_FAILED)  # not stopping by default
    assert retry and ev == [("failed, retry 1/1", "job process exited with code 1")]
    (tmp_path / "k" / "e" / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "k" / "e" / "runs" / "r1" / "status.json").write_text("garbage")
    retry, out, ev, run = settled(tmp_path / "k", base.EXIT_FAILED)  # a corrupt status is
    assert out.reasons == {"r1": "job process exited with code 1"}  # not the job's error


def test_an_interrupted_job_whose_lock_is_still_held_is_marked_interrupted(tmp_path):
    run = RunFolder(tmp_path / "e" / "runs" / "r1")
    run.update_status(state="running")
    lock = JobLock(run.lock_file)
    assert lock.acquire()  # a live holder: state() says running, not a dead job
    try:
        assert run.state().state == "running"
        retry, out, ev, run = settled(tmp_path, base.EXIT_INTERRUPTED)
        assert run.status()["state"] == "interrupted" and ev == [("interrupted", None)]
    finally:
        lock.release()


def test_next_attempt_counts_from_the_status(tmp_path):
    j = job(tmp_path)
    assert base.next_attempt(j) == 1
    RunFolder(tmp_path / "e" / "runs" / "r1").update_status(state="failed", attempts=2)
    assert base.next_attempt(j) == 3
    (tmp_path / "e" / "runs" / "r1" / "status.json").write_text('{"state": "failed"}')
    assert base.next_attempt(j) == 1  # no attempts recorded yet
    (tmp_path / "e" / "runs" / "r1" / "status.json").write_text("garbage")
    assert base.next_attempt(j) == 1
    assert base.one_line("a\nb\n  last line  ") == "last line"
    assert base.one_line("x" * 300).endswith("…") and len(base.one_line("x" * 300)) == 160
    assert base.one_line("x" * 160) == "x" * 160
    assert base.one_line(None) == base.one_line(" \n ") == ""


def _cfg(**tree):
    return build_config(tree)


def test_runs_table_records_the_real_split_sizes(tmp_path):
    from spp_lab.report.collect import collect

    folder = ExperimentFolder(tmp_path / "x")
    run = done_run(folder.runs_dir, "r1")
    run.config.write_text("data: {name: imagefolder, num_train: 4000, num_val: 1000}\n")
    write_json(run.metrics_file, METRICS | {"data": {"train": 57, "val": 9, "test": 11}})
    row = collect(folder.path).iloc[0]
    assert (row["data.num_train"], row["data.num_val"], row["data.num_test"]) == (57, 9, 11)
    assert row["data.name"] == "imagefolder" and row["test_top1_err"] == 41.0


def test_snapshots_carry_what_was_read_and_reasons_only_for_failures(tmp_path):
    from spp_lab.fileio import Corrupt
    from spp_lab.results import ExperimentFolder, RunFolder, RunState

    run = RunFolder(tmp_path / "r")
    run.update_status(state="running", attempts=1)
    snap = run.read()  # nobody holds the lock: interrupted, with the status it read
    assert snap.state == RunState("interrupted", "its process ended without writing a status")
    assert (snap.status["attempts"], snap.metrics) == (1, None)
    run.update_status(state="failed", error="ValueError: x")
    run.update_status(state="done")  # a later attempt finished: the old error is no reason
    write_json(run.metrics_file, METRICS)
    run.write_history(ROWS)
    snap = run.read()
    assert (snap.state, snap.status["state"], snap.metrics["epochs"]) == (
        RunState("done", None), "done", 2)
    run.history.write_text("epoch\n0\n")  # a truncated history: no numbers from this run
    snap = run.read()
    assert (snap.state.state, snap.metrics) == ("corrupt", None)
    run.write_history(ROWS)
    run.metrics_file.unlink()
    snap = run.read()
    assert snap.state.state == "corrupt" and snap.status["state"] == "done"
    run.status_file.write_text("{")
    assert run.read().state.state == "corrupt" and run.read().status == {}
    run.history.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(Corrupt) as err:
        run.history_rows()
    assert str(err.value) == f"{run.history}: not text"
    run.history.write_text("a,b\n1,2\n")
    with pytest.raises(Corrupt) as err:
        run.history_rows()
    assert str(err.value) == f"{run.history}: header is not epoch,… with each column named once"
    assert ExperimentFolder(tmp_path / "none").run_folders() == ([], 0)


def test_corrupt_reasons_name_the_field_and_the_lock_is_the_run_folders(tmp_path):
    from spp_lab.fileio import read_model
    from spp_lab.results import Metrics

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**METRICS, "final": {"val_top1_err": 140.0}}))
    with pytest.raises(Corrupt) as err:
        read_model(path, Metrics)
    assert err.value.why == ("not valid JSON of its schema (final.val_top1_err: Input should "
                             "be less than or equal to 100)")
    path.write_text("[]")
    with pytest.raises(Corrupt) as err:
        read_model(path, Metrics)
    assert err.value.why.startswith("not valid JSON of its schema (content: ")
    run = RunFolder(tmp_path / "r")
    lock = run.lock
    assert lock.path == run.path / ".lock" and lock.acquire()
    assert (run.path / ".lock").exists() and run.lock.held_elsewhere()
    lock.release()
    with pytest.raises(ValueError, match="not JSON compliant"):
        run.write_config({"train": {"lr": float("nan")}})  # never a file nothing reads back


def test_an_unfinished_runs_unreadable_history_is_no_history(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.update_status(state="failed", error="boom")
    run.history.write_text("epcoh,loss\n")  # a wrong header
    assert run.read().history is None and run.read().state.state == "failed"
    run.history.unlink()
    run.history.mkdir()  # unreadable: an OSError
    assert run.read().history is None and run.read().state.reason == "boom"


def test_history_errors_name_the_file_and_run_folders_are_directories_only(tmp_path):
    run = RunFolder(tmp_path / "exp" / "runs" / "r")
    write_atomic(run.history, ",".join(HISTORY_FIELDS) + "\n0" + ",1" * len(HISTORY_FIELDS))
    with pytest.raises(Corrupt) as err:
        run.history_rows()
    assert err.value.path == run.history
    (tmp_path / "exp" / "runs" / "notes.txt").write_text("a file, not a run")
    (tmp_path / "exp" / "runs" / ".trash").mkdir()
    runs, _ = ExperimentFolder(tmp_path / "exp").run_folders(current_only=False)
    assert [r.run_id for r in runs] == ["r"]


def test_config_files_are_readable_and_their_errors_short(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.write_config({"model": {"head": "spp"}})
    assert run.config_json.read_text() == '{\n  "model": {\n    "head": "spp"\n  }\n}\n'
    run.config.write_text("model: [" + "x, " * 100)  # a YAML error with a long message
    with pytest.raises(Corrupt) as err:
        run.read_config(fast=False)
    assert err.value.why.startswith("not YAML (") and len(err.value.why) == 10 + 80 + 1


def test_atomic_writes_rename_a_hidden_temporary_file_of_the_same_folder(tmp_path,
                                                                         monkeypatch):
    import os

    renamed = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append((a, b)), real(a, b)))
    write_atomic(tmp_path / "status.json", "{}")  # same folder: same file system, so the
    (src, dst), = renamed                          # rename is atomic
    src = Path(src)
    assert (src.parent, Path(dst)) == (tmp_path, tmp_path / "status.json")
    assert src.name.startswith(".status.json.") and src.name.endswith(".tmp")
