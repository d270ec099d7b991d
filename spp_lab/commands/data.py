"""``spp-lab check-data``: decode every image a config, an experiment or a folder reads."""

from __future__ import annotations

from pathlib import Path

from spp_lab.config import load_run_config
from spp_lab.data.settings import DataConfig


def cmd_check_data(args) -> int:
    from spp_lab.data.verify import check_every_image

    bad = sum(check_every_image(data) for data in data_configs(args.targets, args.set))
    return 2 if bad else 0


def data_configs(targets: list[str], sets: list[str]) -> list[DataConfig]:
    """The distinct data configs of an experiment file's jobs, of one run config, or of an
    image folder (``check-data DIR``)."""
    from spp_lab.config import is_experiment
    from spp_lab.errors import load_yaml

    file, overrides = None, list(targets)
    if overrides and "=" not in overrides[0] and Path(overrides[0]).is_dir():  # a folder
        overrides = ["data.name=imagefolder", f"data.root={overrides[0]}", *overrides[1:]]
    if overrides and "=" not in overrides[0]:
        file, overrides = overrides[0], overrides[1:]
    if file and is_experiment(load_yaml(file)):
        from spp_lab.runner.study import open_study

        study = open_study(file, overrides=sets + overrides, data="skip")
        seen = {j.config.data.model_dump_json(): j.config.data for j in study.jobs}
        return list(seen.values())
    return [load_run_config(file, overrides + sets).data]
