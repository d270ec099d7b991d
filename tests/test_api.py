"""The Python API (``from spp_lab import ...``) as a notebook uses it: a real run, the
tables it reads back, a run's config, and user errors as UserError."""

from __future__ import annotations

import pytest

from spp_lab import load_config, load_history, load_runs, run_experiment
from spp_lab.errors import UserError
from tests.conftest import tiny_experiment


def test_run_experiment_then_load_what_it_wrote(tmp_path):
    path = tiny_experiment(tmp_path / "api.yaml", tmp_path / "results", epochs=2, rest="""
        conditions: {no SPP: {model.head: pool}, SPP: {model.head: spp}}
        """)
    runs = run_experiment(path, only=["condition=SPP"], workers=1, verbose=False,
                          overrides={"train.threads": 1})
    assert runs["condition"].tolist() == ["SPP"] and runs["status"].tolist() == ["done"]
    assert 0 <= runs.loc[0, "val_top1_err"] <= 100 and runs.loc[0, "train.threads"] == 1
    assert (tmp_path / "results/api/report/report.md").exists()
    again = run_experiment(path, only=["condition=SPP"], workers=1, verbose=False,
                           overrides={"train.threads": 1})  # done: nothing reruns
    assert again.loc[0, "wall_time_s"] == runs.loc[0, "wall_time_s"]
    hist = load_history(tmp_path / "results/api")
    assert hist["epoch"].tolist() == [1, 2] and set(hist["run_id"]) == {runs.loc[0, "run_id"]}
    assert load_runs(tmp_path / "results/api").equals(again)
    run = tmp_path / "results/api/runs" / runs.loc[0, "run_id"]
    cfg = load_config(run)
    assert cfg == load_config(run / "config.yaml")
    assert (cfg.model.head, cfg.train.epochs, cfg.experiment) == ("spp", 2, "api")
    edited = (run / "config.yaml").read_text().replace("epochs: 2", "epochs: 5")
    (run / "config.yaml").write_text(edited)  # the given file is read, edits and all
    assert (load_config(run / "config.yaml").train.epochs, load_config(run).train.epochs) \
        == (5, 2)


def test_api_user_errors(tmp_path):
    with pytest.raises(UserError, match="not an experiment folder"):
        load_runs(tmp_path / "nothing")
    with pytest.raises(UserError, match="config.yaml: no such file"):
        load_config(tmp_path / "nothing")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngrids: {}\n")
    with pytest.raises(UserError, match="grids: unknown key; did you mean 'grid'?"):
        run_experiment(bad, verbose=False)
