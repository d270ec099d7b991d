"""Experiment files → jobs: exact counts and ids, and one clear message per bad file."""

from __future__ import annotations

import json
import resource
import textwrap

import pytest

from spp_lab.errors import UserError
from spp_lab.runner.expand import expand
from spp_lab.runner.experiment import load_experiment
from spp_lab.runner.select import parse_only, select
from tests.conftest import spp_lab

GOOD = """
name: grid
base: {model: {stem: small, width: 0.125, pool5_bins: 3}, data: {image_size: 32}}
grid:
  model.arch: [zf5, overfeat5, convnet5]
  model.levels: [[4, 2, 1], [6, 3, 2, 1]]
zip:
  model.width: [0.125, 0.25]
  data.batch_size: [64, 32]
conditions:
  no SPP: {model.head: pool}
  SPP: {model.head: spp}
seeds: [0, 1, 2]
exclude:
  - {model.arch: convnet5, condition: no SPP}
  - {model.levels: [[4, 2, 1]], seed: 2}
report: {baseline: no SPP}
"""


def write(tmp_path, text: str, name: str = "exp.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_expansion_counts_and_order(tmp_path):
    jobs = expand(load_experiment(write(tmp_path, GOOD)))
    # 3 archs × 2 level sets × 2 zip rows × 2 conditions × 3 seeds = 72,
    # minus convnet5 no-SPP (2 levels × 2 zip × 3 seeds = 12), minus levels [4,2,1] at seed 2
    # (3 archs × 2 zip × 2 conditions = 12, of which 2 were already gone) = 72 - 12 - 10 = 50.
    assert len(jobs) == 50
    assert len({j.run_id for j in jobs}) == 50
    # First cell (zf5, levels [4,2,1], width 0.125): seed 2 is excluded there.
    assert [(j.condition, j.seed) for j in jobs[:4]] == [("no SPP", 0), ("no SPP", 1),
                                                         ("SPP", 0), ("SPP", 1)]
    assert jobs[0].values == {"model.arch": "zf5", "model.levels": [4, 2, 1],
                              "model.width": 0.125, "data.batch_size": 64, "model.head": "pool"}
    assert {j.config.train.seed for j in jobs} == {0, 1, 2}
    assert all(j.config.experiment == "grid" for j in jobs)
    assert not any(j.config.model.arch == "convnet5" and j.condition == "no SPP" for j in jobs)


def test_run_id_is_stable_across_key_order_and_machines(tmp_path):
    a = expand(load_experiment(write(tmp_path, GOOD, "a.yaml")))
    reordered = GOOD.replace(
        "base: {model: {stem: small, width: 0.125, pool5_bins: 3}, data: {image_size: 32}}",
        "base: {data: {image_size: 32}, model: {pool5_bins: 3, width: 0.125, stem: small}}")
    assert reordered != GOOD
    b = expand(load_experiment(write(tmp_path, reordered, "b.yaml")))
    assert [j.run_id for j in a] == [j.run_id for j in b]
    # Pinned: the id is a hash of the canonical config, the same on any machine.
    assert a[0].run_id == expand(load_experiment(write(tmp_path, GOOD, "c.yaml")))[0].run_id
    assert len(a[0].run_id) == 10 and int(a[0].run_id, 16) >= 0


def test_only_selects_by_values(tmp_path):
    jobs = expand(load_experiment(write(tmp_path, GOOD)))
    picked = select(jobs, parse_only(["model.arch=zf5,condition=SPP,seed=0"]))
    assert len(picked) == 4 and all(j.config.model.arch == "zf5" for j in picked)


def test_only_that_selects_nothing_is_a_user_error(tmp_path):
    path = write(tmp_path, GOOD)
    proc = spp_lab("run", str(path), "--only", "seed=99", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--only seed=99: selects none of the {len(expand(load_experiment(path)))} jobs" \
        in proc.stderr


BAD = [
    ("name: x\nbase: {model: {arch: zf6}}\n", "base.model.arch: unknown model 'zf6'"),
    ("name: x\ngrid: {model.levels: [[4, 2, 1], [6, 0]]}\n",
     "grid.model.levels[1]→model.levels[1]: Input should be greater than 0 (got 0)"),
    ("name: x\ngrid: {model.lvls: [[1]]}\n", "unknown key 'lvls' in 'model.lvls'; did you mean "
     "'levels'?"),
    ("name: x\ngrids: {}\n", "grids: unknown key; did you mean 'grid'?"),
    ("name: x\ngrid: {model.arch: zf5}\n", "grid.model.arch: expected a list of values"),
    ("name: x\nzip: {model.width: [1, 2], data.batch_size: [8]}\n", "zip: lists must have "
     "equal lengths"),
    ("name: x\nconditions: {a: {model.head: poool}}\n", "conditions.a→model.head: must be one"),
    ("name: x\nconditions: {a: {model.heads: pool}}\n", "did you mean 'head'?"),
    ("name: x\nreport: {baseline: nope}\nconditions: {a: {}}\n",
     "report.baseline: 'nope' is not a condition; conditions: a"),
    ("name: x\nreport: {metric: accuracy}\n", "unknown metric 'accuracy'"),
    ("name: x\nseeds: []\n", "seeds: List should have at least 1 item"),
    ("name: x\nseeds: [a]\n", "seeds[0]: Input should be a valid integer"),
    ("name: 'a b'\n", "name: must be a plain folder name (letters, digits, _ - .), but it has ' '"),
    ("name: a/b\n", "name: must be a plain folder name (letters, digits, _ - .), but it has '/'"),
    ("base: {}\n", "name: Field required"),
    ("name: x\nexclude: [{model.arch: zf5}]\n", "exclude removes every job"),
    ("name: x\nconditions: {a: {}, b: {}}\n", "have identical configs"),
    ("name: x\nbase: {train: {epochs: 0}}\n", "base.train.epochs: Input should be greater than 0"),
    ("name: x\ngrid: {model: [1]}\n", "'model' is a section"),
    ("- just\n- a list\n", "expected a mapping"),
    ("name: x\ngrid: {model.arch: [zf5\n", "YAML syntax error at line 3, column 1"),
    ("name: x\nworkers: 0\n", "exp.yaml: workers: Input should be greater than 0 (got 0)"),
    ("name: x\nslurm: {time_min: 0}\n", "exp.yaml: slurm.time_min: Input should be greater than 0"),
    ("name: x\nslurm: 4\n", "slurm: expected a mapping of settings (partition, time_min"),
    ("name: x\nworker: 2\n", "worker: unknown key; did you mean 'workers'?"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_experiment_files_get_clear_messages(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        expand(load_experiment(path), path)
    assert message in str(err.value)
    assert path in str(err.value)


def test_python_tags_are_not_evaluated(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(UserError, match="YAML"):
        load_experiment(path)


def test_ls_is_fast_json_and_exit_2_on_errors(tmp_path):
    # the pool head reads no levels: one level set for it, or ls refuses the repeats
    text = GOOD.replace("exclude:\n", "exclude:\n  - {condition: no SPP, model.levels: "
                        "[[6, 3, 2, 1]]}\n")
    path = write(tmp_path, text)
    n = len(expand(load_experiment(path)))
    # CPU seconds of the child, which the rest of the parallel suite cannot inflate.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = spp_lab("ls", path, "--json", cwd=tmp_path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert 0 < cpu < 2.0
    data = json.loads(proc.stdout)
    assert data["counts"]["new"] == n == 38 and len(data["jobs"]) == n
    assert {"run_id", "condition", "seed", "values", "status"} <= set(data["jobs"][0])
    bad = write(tmp_path, BAD[0][0], "bad.yaml")
    proc = spp_lab("ls", bad)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_only_parses_values_as_yaml_and_brackets_as_one_value(tmp_path):
    assert parse_only(["model.levels=[2, 1],seed=0"]) == [{"model.levels": [2, 1], "seed": 0}]
    assert parse_only(["model.levels=[[2], [1]],seed=0"]) == [
        {"model.levels": [[2], [1]], "seed": 0}]
    assert parse_only(["condition=X,seed=0"]) == [{"condition": "X", "seed": 0}]
    assert parse_only(["condition=a=b"]) == [{"condition": "a=b"}]
    for bad in ("=5", "seed", "seed=0,"):
        with pytest.raises(UserError, match="expected key=value"):
            parse_only([bad])
    with pytest.raises(UserError, match=r"--only 'seed=\[1,'"):
        parse_only(["seed=[1,"])


def test_only_matches_by_value_or_by_its_text(tmp_path):
    text = GOOD.replace("no SPP: {model.head: pool}", "'1': {model.head: pool}").replace(
        "baseline: no SPP", "baseline: '1'").replace("condition: no SPP", "condition: '1'")
    jobs = expand(load_experiment(write(tmp_path, text)))
    assert {j.condition for j in select(jobs, parse_only(["condition=1"]))} == {"1"}
    picked = select(jobs, parse_only(["model.levels=[6, 3, 2, 1],model.arch=zf5,seed=0"]))
    assert len(picked) == 4 and all(j.config.model.levels == [6, 3, 2, 1] for j in picked)
    assert select(jobs, parse_only([f"run_id={jobs[7].run_id}"])) == [jobs[7]]
    with pytest.raises(UserError, match="--only: unknown key 'model.lvls'"):
        select(jobs, parse_only(["model.lvls=[1]"]))


def test_config_building_messages_and_dotted_keys():
    from spp_lab.config import build_config, set_dotted

    with pytest.raises(UserError) as err:
        build_config([1])
    assert str(err.value) == "config: expected a mapping of sections, got list"
    with pytest.raises(UserError) as err:
        build_config({"modle": {}}, source="f.yaml")
    assert str(err.value).startswith("f.yaml: ") and "did you mean 'model'?" in str(err.value)
    tree: dict = {}
    set_dotted(tree, "model.levels", [2, 1])
    set_dotted(tree, "model.head", "spp")
    assert tree == {"model": {"levels": [2, 1], "head": "spp"}}
    with pytest.raises(UserError, match="model.levels.x: 'levels' is a value, not a section"):
        set_dotted(tree, "model.levels.x", 1)


def _expanded(tmp_path, text: str, **kw):
    path = write(tmp_path, text)
    try:
        return expand(load_experiment(path), path, **kw)
    except UserError as err:
        return str(err).replace(path, "P")


ALLOWED = "Allowed: arch, width, stem, batchnorm, head, levels, pool, bins, pool5_bins, " \
    "fc_dim, dropout, head_args, pretrained, weights"


@pytest.mark.parametrize("text,message", [
    ("report: {baseline: nope}\nconditions: {a: {}, b: {model.head: pool}}\n",
     "P: report.baseline: 'nope' is not a condition; conditions: a, b"),
    ("report: {rows: model.zzzzz}\n", f"P: report.rows: unknown key 'zzzzz' in "
     f"'model.zzzzz' {ALLOWED}"),
    ("report: {rows: condition, interaction: [model.lvls, condition]}\n",
     f"P: report.interaction: unknown key 'lvls' in 'model.lvls'; did you mean 'levels'? "
     f"{ALLOWED}"),
    ("zip: {model.lvls: [[1]]}\n", f"P: zip.model.lvls: unknown key 'lvls' in 'model.lvls'; "
     f"did you mean 'levels'? {ALLOWED}"),
    ("exclude: [{model.lvls: [1]}]\n", f"P: exclude[0].model.lvls: unknown key 'lvls' in "
     f"'model.lvls'; did you mean 'levels'? {ALLOWED}"),
    ("grid: {model.width: [0.5, -1]}\n",
     "P: grid.model.width[1]→model.width: Input should be greater than 0 (got -1)"),
    ("conditions: {a: {model.head: poool}}\n", "P: conditions.a→model.head: must be one of "
     "'global', 'pool' or 'spp' (got 'poool')"),
    ("base: {model: {lvls: [1]}}\n", "P: base.model.lvls: unknown key; did you mean 'levels'? "
     f"Allowed keys: {ALLOWED.removeprefix('Allowed: ')}."),
    ("exclude: [{model.arch: vgg11_bn}]\n", "P: exclude[0] {'model.arch': 'vgg11_bn'} "
     "matches no job; check its keys and values against `spp-lab ls`"),
    ("conditions: {a: {}, b: {train.seed: 5}}\n", "P: jobs 'a {} seed 0' and 'b {} seed 0' "
     "have identical configs (run 14e29ec472); make the conditions differ"),
])
def test_experiment_messages_exactly(tmp_path, text, message):
    assert _expanded(tmp_path, "name: x\n" + text) == message


def test_expansion_details(tmp_path):
    from spp_lab.runner.devices import GPU

    (job,) = _expanded(tmp_path, "name: x\n")
    assert (job.condition, job.cell, job.config.train.precision) == ("default", (), "32-true")
    nested = _expanded(tmp_path, "name: x\nconditions: {a: {model: {head: pool}}}\n")
    assert nested[0].values == {"model.head": "pool"}  # nested and dotted forms alike
    jobs = _expanded(tmp_path, "name: x\ngrid: {model.arch: [zf5, overfeat5]}\nseeds: [0, 1]\n"
                     "exclude: [{model.arch: zf5, seed: 0}, {model.arch: overfeat5}]\n")
    assert [(j.config.model.arch, j.seed, j.cell) for j in jobs] == [
        ("zf5", 1, (("model.arch", "zf5"),))]
    gpu = GPU("0", "A100", 81920, 8.0)
    (on_gpu,) = _expanded(tmp_path, "name: x\nbase: {train: {precision: auto}}\n", gpus=[gpu])
    assert on_gpu.config.train.precision == "bf16-mixed"
    path = write(tmp_path, "name: x\nbase: {data: {num_train: 999}}\n")
    (small,) = expand(load_experiment(path), smoke=True)
    assert (small.config.data.num_train, small.config.train.epochs) == (64, 1)


def test_schema_key_messages_without_a_close_match(tmp_path):
    assert _expanded(tmp_path, "name: x\ngrid: {model.qqqqqqq: [1]}\n") == \
        f"P: grid.model.qqqqqqq: unknown key 'qqqqqqq' in 'model.qqqqqqq' {ALLOWED}"
