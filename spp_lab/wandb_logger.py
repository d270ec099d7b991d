"""The W&B logger of a run (Lightning's, imports it): W&B's failures never fail a run, and
its rows follow Lightning's steps so that every epoch's metrics land in one row."""

from __future__ import annotations

from pytorch_lightning.loggers import WandbLogger

from spp_lab.errors import warn


class SafeWandbLogger(WandbLogger):
    """Catches W&B errors while logging: warns once, then stops logging."""

    def __init__(self, *args, settings_kwargs: dict | None = None, **kwargs):
        import wandb

        if settings_kwargs:
            kwargs["settings"] = wandb.Settings(**settings_kwargs)
        super().__init__(*args, **kwargs)
        self._wandb_init.pop("anonymous", None)  # wandb warns that it has no effect
        self._broken, self._step = False, 0
        self.test_view: str | int | None = None  # set while a test view is scored

    def _guard(self, fn, *args, **kwargs):
        if self._broken:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            self._broken = True
            warn(f"W&B logging failed, continuing without it: {err}")
            return None

    def log_metrics(self, metrics, step=None):
        """At W&B step = Lightning's step, which a resumed attempt restores from the
        checkpoint: the rows of both attempts line up in one W&B run after sync (W&B's
        own counter would restart at 0 and drop the resumed epochs). Lightning logs an
        epoch's training metrics at its last step, after the validation metrics at the
        next: they join that row (W&B ignores a step lower than one logged), so each
        epoch's row holds both. Epochs count from 1; the test, after the last epoch,
        carries that epoch. A test view's metrics are ``test_<view>/...`` (``test_full/``),
        so they do not overwrite the standard test's."""
        test = any(k.startswith("test/") for k in metrics)
        if test and self.test_view is not None:
            metrics = {(f"test_{self.test_view}/" + k[5:] if k.startswith("test/") else k): v
                       for k, v in metrics.items()}
        if "epoch" in metrics and not test:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}  # Lightning's from 0
        if step is not None:
            step = self._step = max(int(step), self._step)

        def log() -> None:
            if step is None:
                self.experiment.log(dict(metrics))
            else:
                self.experiment.log(dict(metrics, **{"trainer/global_step": step}),
                                    step=step)
        return self._guard(log)

    def log_hyperparams(self, params, *args, **kwargs):
        """Nothing: the run's config is the flat run config given at ``init`` (the
        module's nested hparams would repeat every key)."""
        return None

    def finalize(self, status):
        return self._guard(super().finalize, status)
