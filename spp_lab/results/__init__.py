"""The results contract (no torch): every path of a results folder, every file's schema,
the job states, and a run's history. A folder written by an earlier release reads the same
(``tests/test_upgrade.py``).

* :mod:`.folders`: :class:`RunFolder` and :class:`ExperimentFolder`, the only module that
  names a results file;
* :mod:`.schemas`: ``status.json``, ``metrics.json``, ``experiment.json`` and the report
  settings;
* :mod:`.states`: the job states and their one count;
* :mod:`.history`: ``history.csv``.
"""

from spp_lab.results.folders import ExperimentFolder, RunFolder, Snapshot, config_text
from spp_lab.results.history import HISTORY_FIELDS, TEXT_COLUMNS, history_fields
from spp_lab.results.schemas import ExperimentSpec, Metrics, ReportSpec, Status
from spp_lab.results.states import STATES, RunState, count_states, counts_text

__all__ = ["HISTORY_FIELDS", "STATES", "TEXT_COLUMNS", "ExperimentFolder", "ExperimentSpec",
           "Metrics", "ReportSpec", "RunFolder", "RunState", "Snapshot", "Status",
           "config_text", "count_states", "counts_text", "history_fields"]
