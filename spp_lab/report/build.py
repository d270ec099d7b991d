"""``spp-lab report``: every table and chart of an experiment into ``results/<name>/report/``.

Orchestration only: collect the runs (:mod:`.collect`), then each section of
:mod:`.sections` writes its files and Markdown. Deterministic: the same runs give
byte-identical CSV and Markdown. Never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spp_lab.metrics import title
from spp_lab.report import methods, precision, sections
from spp_lab.report.collect import collect_runs, save_runs, with_runs
from spp_lab.report.draw import Charts
from spp_lab.report.paper import PAPER_CONDITIONS, mirrors_paper, paper_runs
from spp_lab.report.stats import additive_sentence, interaction
from spp_lab.report.steps import step_frame, steps
from spp_lab.report.tables import comparison, markdown_table
from spp_lab.results import ExperimentFolder, count_states, counts_text
from spp_lab.stopping import SeedRule


def write_report(exp_dir: str | Path, paper: bool = False, workers: int | None = None
                 ) -> Path:
    """Collect, aggregate and draw; returns the path of ``report.md``. ``workers``: the
    processes that read the run folders (default: :func:`.collect.default_workers`)."""
    folder = ExperimentFolder(exp_dir)
    out = folder.report_dir
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("table_*.*"), *out.glob("by_*.*"), *out.glob("methods.tex")):
        stale.unlink()
    (runs, epochs), spec = collect_runs(folder.path, workers=workers), folder.spec()
    md = [f"# {spec.name}", "", spec.description.strip(), ""]
    if runs.attrs.get("older_runs"):
        md += [f"{runs.attrs['older_runs']} run folders in `runs/` are not jobs of the "
               "experiment file as it is now (an earlier version's configs or seeds); they "
               "are kept on disk, out of these tables and `runs.csv`.", ""]
    if runs.empty:
        return _finish(out, md + ["No runs yet."])
    md += mixed_environments(runs)
    with Charts() as charts:  # drawn meanwhile, where forking is safe
        md += _sections(runs, epochs, spec, out, paper, charts)
        save_runs(runs, folder.path)
    return _finish(out, md)


def _sections(runs: pd.DataFrame, epochs: pd.DataFrame, spec, out: Path, paper: bool,
              charts: Charts) -> list[str]:
    rep = spec.report
    counts = count_states(runs["status"])
    # the file's jobs with no run folder yet are new, as `spp-lab ls` counts them
    counts["new"] += len(set(spec.run_ids or []) - set(runs["run_id"]))
    tally = counts_text(counts)
    md = [f"Runs: {sum(counts.values())} ({tally}). Only finished runs enter the tables; "
          "the others are listed in `runs.csv` with their status.", ""]
    done = _finished(runs, rep.rows, spec.row_order)
    if done.empty:
        return md + [f"No finished run yet ({sum(counts.values())} runs: {tally}), so no tables."]
    if rep.metric not in done or done[rep.metric].isna().all():
        return md + [
            f"No finished run recorded {rep.metric} (report.metric); a test metric needs a "
            "test split (data.num_test, a test/ folder or data.test_fraction)."]
    conditions = list(runs["condition"].cat.categories)
    baseline = rep.baseline or conditions[0]
    tidy, stats_md = _statistics(done, spec, conditions, baseline, out)
    pilot = spec.seed_rule["min"] if spec.seed_rule else None
    md += stats_md + sections.test_views(done, rep.rows, conditions, baseline, out, rep.ci,
                                         pilot)
    md += sections.run_notes(done, rep.rows)
    md += sections.cost(done, rep.rows, out) + sections.gains_chart(tidy, rep.rows, out, charts)
    if mirrors_paper(conditions, rep.rows, baseline):
        md += sections.beside_paper(tidy, rep.metric, out)
    if paper:
        md += [sections.paper_chart(out, charts, rep.metric), ""]
    md += _interaction(done, rep, out)
    test_size = int(done["data.image_size"].iloc[0]) if "data.image_size" in done else None
    hist = with_runs(epochs, done, ["condition", rep.rows])
    return md + sections.charts(done, hist, spec, rep.metric, out, test_size, charts)


def _statistics(done: pd.DataFrame, spec, conditions: list[str], baseline: str,
                out: Path) -> tuple[pd.DataFrame, list[str]]:
    """The methods paragraph, the tables, the steps and the seeds-and-precision section
    (``methods.tex`` beside them); returns the table's numbers and the Markdown."""
    rep = spec.report
    rule = SeedRule.model_validate(spec.seed_rule) if spec.seed_rule else None
    target = rule.target if rule is not None else rep.target
    pilot = rule.min if rule is not None else None
    tidy, md = sections.tables(done, rep.rows, rep.metric, conditions, baseline, out,
                               rep.ci, rep.correction, pilot)
    stepped = step_frame(done, rep.rows, rep.metric, conditions, baseline, rep.ci,
                         rep.correction, pilot)
    md += steps(done, rep.rows, rep.metric, conditions, baseline, out, rep.ci,
                rep.correction, pilot, frame=stepped)
    ch = precision.changes(done, rep.rows, rep.metric, baseline, rule, target, conditions,
                           rep.correction)
    md += precision.section(done, rep.rows, rep.metric, conditions, baseline, rule,
                            spec.seeds, rep.target, rep.correction, ch=ch)
    facts = methods.Facts(
        conditions=[c for c in conditions if (done["condition"] == c).any()],
        baseline=baseline, rows=rep.rows, metric=rep.metric, rule=rule,
        seeds=spec.seeds or sorted(int(s) for s in done["seed"].dropna().unique()),
        correction=rep.correction,
        changes=ch,
        steps=len(stepped), step_splits=int((stepped["different"] != stepped[
            "perm_different"]).sum()) if len(stepped) else 0,
        runs=int(done[rep.metric].notna().sum()),
        far=len(precision.far_runs(done, rep.rows, rep.metric)))
    text = methods.paragraph(facts) if not facts.changes.empty else ""
    if text:
        (out / "methods.tex").write_text(methods.latex(text))
    return tidy, ([text, ""] if text else []) + md


def _interaction(done: pd.DataFrame, rep, out: Path) -> list[str]:
    """``report.interaction``: both main effects and their interaction, and the sentence."""
    if len(rep.interaction) != 2:
        return []
    a, b = rep.interaction
    eff = interaction(done, a, b, rep.metric, rows=rep.rows if rep.rows in done else None,
                      ci=rep.ci)
    eff.round(4).to_csv(out / "interaction.csv", index=False)
    return ["## Does it add up?", "", additive_sentence(eff, rep.metric), "",
            markdown_table(list(eff.columns), eff.values.tolist()), ""]


def mixed_environments(runs: pd.DataFrame) -> list[str]:
    """A note when the finished runs ran on more than one CPU model, torch or device: the
    same config can then differ in the last digits, which the tables do not show."""
    cols = [c for c in ("env.cpu", "env.torch", "env.device") if c in runs]
    done = runs[runs["finished"]] if "finished" in runs else runs
    kinds = done[cols].dropna(how="all").drop_duplicates() if cols else done.iloc[:0]
    if len(kinds) < 2:
        return []
    listed = "; ".join(", ".join(str(v) for v in r if pd.notna(v)) for r in kinds.values)
    return [f"These runs ran in {len(kinds)} environments ({listed}): a config run on two "
            "CPUs or torch versions can give different numbers (the `env.*` columns of "
            "`runs.csv` say which run ran where).", ""]


def _finish(out: Path, md: list[str]) -> Path:
    (out / "report.md").write_text("\n".join(md).rstrip() + "\n")
    return out / "report.md"


def _finished(runs: pd.DataFrame, rows: str, order: list) -> pd.DataFrame:
    """Finished runs, with the rows key in the order the experiment file lists it."""
    done = runs[runs["finished"]]
    if rows not in done.columns:
        done = done.assign(**{rows: "all"})
    if order and set(done[rows].dropna()) <= set(order):
        done = done.assign(**{rows: pd.Categorical(done[rows], order, ordered=True)})
    return done


def write_paper(out: Path) -> Path:
    """``spp-lab report --paper``: the paper's own Table 2 tables and gains chart."""
    out.mkdir(parents=True, exist_ok=True)
    md = ["# SPP-net, Table 2 (He et al., TPAMI 2015)", "",
          "ImageNet 2012 val error, 10-view testing; one run per cell, so no CI. The source "
          "of each cell is in `spp_lab/report/paper_table2.csv`; the Overfeat-7 single-size "
          "top-5 is uncertain (11.12, or 10.99 in another transcription).", "",
          sections.paper_chart(out, Charts(parallel=False), "val_top1_err"), ""]
    for m in ("val_top1_err", "val_top5_err"):
        table, ptidy = comparison(paper_runs(), "model.arch", m, list(PAPER_CONDITIONS),
                                  PAPER_CONDITIONS[0])
        md += [f"## {title(m)}", "", sections.write_tables(
            table, ptidy, out, f"paper_table_{m}", "SPP-net Table 2 (ImageNet)"), ""]
    return _finish(out, md)


def publish(exp_dir: str | Path, wandb: object | None = None, paper: bool = False,
            say=print) -> Path:
    """What ``spp-lab run`` does after the grid (and the API alike): the report, and with
    ``wandb`` (a run config's ``logging.wandb``) its W&B summary run."""
    path = write_report(exp_dir, paper=paper)
    say(f"report: {path}")
    if wandb is not None:
        from spp_lab.report.wandb_summary import log_summary

        info = log_summary(Path(exp_dir), wandb)
        if info:
            say(f"W&B summary run: {info['id']} ({info['mode']})")
    return path
