"""What a run's numbers say about the run itself (no torch): notes printed on the terminal,
written to its log and ``metrics.json`` (``notes``), and listed by the report.

* an epoch of a handful of optimizer steps (:func:`steps_note`);
* validation error at or above chance while training error fell (:func:`learning_note`):
  the model fits its training batches and does not generalise, the signature of batch
  norm's running statistics that never settled, or of validation images unlike training's;
* a test view the head cannot take (:func:`view_note`): its scores are left empty.
"""

from __future__ import annotations

from typing import Any

from spp_lab.data.batch import MIN_STEPS, batch_for


def steps_note(n_train: int, batch: int) -> str | None:
    """A note where an epoch is fewer than :data:`MIN_STEPS` optimizer steps, else None."""
    steps = n_train // batch if n_train > batch else 1
    if steps >= MIN_STEPS:
        return None
    better = batch_for(n_train)
    fix = (f"data.batch_size: {better} gives {n_train // better}" if better < batch else
           "more training images give more")
    return (f"{n_train} training images in batches of {batch} are {steps} optimizer step"
            f"{'s' if steps != 1 else ''} an epoch: training barely moves and batch norm's "
            f"running statistics do not settle; {fix}")


def learning_note(rows: list[dict[str, Any]], num_classes: int) -> str | None:
    """A note where the last validation error is at or above chance (within 2 points) while
    the training error fell by 10 points or more to below chance, else None."""
    chance = 100.0 * (1 - 1 / num_classes)
    val = rows[-1].get("val_top1_err")
    first, last = rows[0].get("train_top1_err"), rows[-1].get("train_top1_err")
    if None in (val, first, last) or val < chance - 2 or not (
            last <= first - 10 and last < chance - 10):
        return None
    return (f"validation top-1 error {val:.1f}% is at or above chance ({chance:.1f}% for "
            f"{num_classes} classes) while training error fell from {first:.1f}% to "
            f"{last:.1f}%: the model does not generalise (too few optimizer steps for batch "
            "norm's statistics, too few images, or validation images unlike training's)")


def view_note(view: str | int, head: str, train_size: int) -> str:
    """Why a fixed-size head has no scores in a test view."""
    what = "full images" if view == "full" else f"{view}-px crops"
    return (f"test view {view}: head {head!r} is fixed-size (it takes {train_size}-px inputs "
            f"only) and cannot score {what}; its test_{view}_* metrics are empty")
