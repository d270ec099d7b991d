"""Pretrained backbones, offline-first (no torch at import).

``model.pretrained``: ``true`` (the library's default weights, resolved to their tag before
the run id), or a tag (torchvision's ``IMAGENET1K_V2``, timm's ``in12k_ft_in1k``); loaded by
the library's own loader from its own cache: torchvision's from the torch hub cache
(``$TORCH_HOME/hub/checkpoints/<file>``), timm's from the Hugging Face cache
(``$HF_HOME/hub/models--timm--<name>.<tag>``). ``model.weights``: a local file of backbone
weights, whose SHA-256 is part of the run id.

Before any job starts (:mod:`spp_lab.checks`), :func:`check` finds the file in the cache;
where it is not there and the library's host cannot be reached (:mod:`spp_lab.network`),
it is one error naming the file to fetch and where to put it. The normalisation the weights
were trained with (their mean and std) is the input's (:func:`input_norm`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from spp_lab.errors import UserError
from spp_lab.network import reachable

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # of RGB in [0, 1]: every run without weights
IMAGENET_STD = (0.229, 0.224, 0.225)
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm reads from a hub repo


def resolve_tag(arch: str, pretrained: bool | str) -> str | None:
    """The tag of ``model.pretrained`` for ``arch`` (None for ``false``); a ValueError
    naming the valid tags, or why ``arch`` has none."""
    from spp_lab.models import catalog
    from spp_lab.models._api import arch_spec

    if pretrained is False:
        return None
    spec = arch_spec(arch)
    if spec.weights_from is None:
        raise ValueError(f"model.pretrained: {arch} has no published weights (spp-lab trains "
                         "it from scratch); give a file of its weights as model.weights=PATH, "
                         "or use a torchvision or timm backbone")
    facts = catalog.facts(spec.weights_from)
    if pretrained is True:
        if facts["default"] is None:
            raise ValueError(f"model.pretrained: {arch} has no published weights in "
                             f"{spec.source or 'torchvision'}")
        return str(facts["default"])
    catalog.weights_of(spec.weights_from, pretrained)
    return pretrained


def _weights_facts(model: Any) -> dict[str, Any] | None:
    from spp_lab.models import catalog
    from spp_lab.models._api import arch_spec

    if model.pretrained is False:
        return None
    return catalog.weights_of(arch_spec(model.arch).weights_from, model.pretrained)


def input_norm(model: Any) -> tuple[list[float], list[float]]:
    """(mean, std) of RGB in [0, 1] that the inputs are normalised with: the published
    weights' own, else ImageNet's (every network trained here)."""
    found = _weights_facts(model)
    if found is None:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    return list(found["mean"]), list(found["std"])


def input_size(arch: str, pretrained: bool | str = False) -> int:
    """``data.image_size``'s default for ``arch``: its weights' input size where they are
    asked for, else its own (64 for the CPU-sized registered nets)."""
    from spp_lab.models import catalog
    from spp_lab.models._api import arch_spec

    spec = arch_spec(arch)
    tag = resolve_tag(arch, pretrained) if pretrained is not False else None
    if tag is None or spec.weights_from is None:
        return spec.input_size
    return int(catalog.weights_of(spec.weights_from, tag)["input_size"])


def torch_hub_dir() -> Path:
    """torch's hub folder as ``torch.hub.get_dir()`` gives it, without importing torch."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "torch" / "hub"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache as ``huggingface_hub`` finds it (read now, not when it
    was imported): ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    return Path(home).expanduser() / "hub"


def cached_file(found: dict[str, Any]) -> Path | None:
    """The cached file of one weights entry (:func:`spp_lab.models.catalog.weights_of`), or
    None where the library would have to download it."""
    return _cached(found)[0]


def _cached(found: dict[str, Any]) -> tuple[Path | None, str, str]:
    """(the cached file or None, what to fetch, where it goes) for one weights entry."""
    if found.get("hf_hub_id"):
        from huggingface_hub import try_to_load_from_cache

        repo, cache = found["hf_hub_id"], hf_hub_cache()
        for name in HF_FILES:
            hit = try_to_load_from_cache(repo, name, cache_dir=cache)
            if isinstance(hit, str):
                return Path(hit), repo, str(cache)
        folder = cache / f"models--{repo.replace('/', '--')}"
        return None, (f"huggingface-cli download {repo} model.safetensors (on a machine with "
                      f"a network)"), f"{folder} (copy that folder here)"
    target = torch_hub_dir().joinpath("checkpoints", found["file"])  # torch hub's folder
    return (target if target.is_file() else None), found["url"], str(target)


def check(model: Any) -> None:
    """The weights a job will load are here, or can be fetched: a UserError otherwise."""
    if model.weights is not None:
        if not Path(model.weights).expanduser().is_file():
            raise UserError(f"model.weights: {model.weights}: no such file")
        return
    found = _weights_facts(model)
    if found is None:
        return
    path, fetch, where = _cached(found)
    if path is not None:
        return
    host = "https://huggingface.co" if found.get("hf_hub_id") else fetch
    if reachable(host):
        return  # the job's library downloads it into its cache
    raise UserError(f"model.pretrained: the {model.pretrained} weights of {model.arch} are not "
                    f"in the cache and there is no network; fetch {fetch} and put it at "
                    f"{where}")


_SHA: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str) -> str:
    """``sha256:<hex>`` of a weights file (remembered by path, size and mtime)."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError:
        raise UserError(f"model.weights: {path}: no such file") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA[key] = "sha256:" + h.hexdigest()
    return _SHA[key]
