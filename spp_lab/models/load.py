"""``model.weights``: a local file of backbone weights loaded into the trunk (torch).

The file is a state dict: ``.safetensors``, or a torch file read with ``weights_only=True``
(``.pt``, ``.pth``, ``.bin``, a run's ``checkpoints/last.ckpt``, whose ``state_dict`` is
taken), so nothing in it is executed. Its keys are matched to the trunk's by the prefix
that matches most of them (``net.features.`` in a spp-lab checkpoint, ``module.``,
``backbone.``, none): every tensor of the trunk must be found, with its shape; the rest (a
classifier, a head) is left. A mismatch is one error naming the first key.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spp_lab.errors import UserError


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (never unpickling code)."""
    p = Path(path).expanduser()
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(p), device="cpu")
        else:
            data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (any unreadable file: one message)
        raise UserError(f"model.weights: {path} is not a weights file ({type(err).__name__}: "
                        f"{str(err)[:160]})") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]  # a Lightning checkpoint
    if not isinstance(data, dict) or not all(torch.is_tensor(v) for v in data.values()):
        raise UserError(f"model.weights: {path} holds no state dict (a mapping of names to "
                        "tensors)")
    return data


def _prefix(own: list[str], given: list[str]) -> str:
    """The prefix that maps most of the file's keys onto the trunk's."""
    owned, votes = set(own), Counter()
    for key in given:
        for i in range(len(key) + 1):
            if key[i:] in owned and (i == 0 or key[i - 1] == "."):
                votes[key[:i]] += 1
                break
    return votes.most_common(1)[0][0] if votes else ""


def load_backbone(features: nn.Module, path: str) -> str:
    """Load ``path`` into ``features``; returns what was loaded, for the run's log."""
    given = read_state_dict(path)
    own = features.state_dict()
    prefix = _prefix(list(own), list(given))
    missing = [k for k in own if prefix + k not in given]
    if missing:
        raise UserError(f"model.weights: {path} has no tensor for the backbone's {missing[0]!r}"
                        f" ({len(missing)} of {len(own)} missing; the file's keys look like "
                        f"{next(iter(given), 'nothing')!r}): is it this architecture's?")
    for k, v in own.items():
        if given[prefix + k].shape != v.shape:
            raise UserError(f"model.weights: {path}: {prefix + k} has shape "
                            f"{tuple(given[prefix + k].shape)}, the backbone's {k} "
                            f"{tuple(v.shape)}: another width or architecture")
    features.load_state_dict({k: given[prefix + k] for k in own})
    return (f"model.weights: {len(own)} backbone tensors from {path}"
            + (f" (under {prefix!r})" if prefix else "")
            + f"; {len(given) - len(own)} other tensors of the file left out")
