"""``shapes``: an embedded, procedural, multi-scale image classification set (offline).

Each image shows two copies of one shape (disk, square, triangle, ring, cross) side by side
or one above the other; the class is (shape, layout), 10 classes. Object scale, position,
aspect, rotation, colours, background and clutter (small dots, line segments, noise)
vary widely, so a classifier must recognise shape at many scales *and* keep their spatial
layout: what a spatial pyramid and multi-size training are about. Global pooling alone can
not tell the two layouts apart.

Scenes are drawn from a seeded generator in coordinates relative to the shorter image side,
so the same scene renders at any resolution and aspect (:func:`render`). Deterministic per
``(seed, split)``. Rendering is vectorised torch on the CPU: 10,000 images at 64 px take a
few seconds on 2 cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from spp_lab.data.scene_kinds import ASPECTS, CLASSES, LAYOUTS, SHAPES  # noqa: F401

N_CLUTTER = 4  # clutter slots per image (some are empty)
_SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_029}


@dataclass
class Scenes:
    """Per-image scene parameters; slots are objects drawn back to front."""

    labels: Tensor  # (N,) class index
    aspect: Tensor  # (N,) width / height
    kind: Tensor  # (N, S) shape index per slot, -1 = empty, 5 = line
    pos: Tensor  # (N, S, 2) centre (x, y) in shorter-side units from the image centre
    radius: Tensor  # (N, S) in shorter-side units
    stretch: Tensor  # (N, S) aspect of the object (x scale / y scale)
    angle: Tensor  # (N, S) rotation, radians
    color: Tensor  # (N, S, 3) in [0, 1]
    background: Tensor  # (N, 3, 3): base colour and x, y gradients
    noise_seed: Tensor  # (N,) seeds of the pixel noise (the first of a render chunk is used)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: Tensor) -> Scenes:
        return Scenes(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def make_scenes(n: int, seed: int = 0, split: str = "train", *, epoch: int = 0,
                scale: tuple[float, float] = (0.11, 0.24),
                gap: tuple[float, float] = (2.2, 2.8)) -> Scenes:
    """Draw ``n`` scenes, deterministic per ``(seed, split, epoch)``; the pair's radius is
    uniform in ``scale`` (fractions of the shorter side), the distance between the pair's
    centres uniform in ``gap`` (radii). ``epoch`` > 0 draws a new set of training scenes
    for that epoch (``data.resample``)."""
    g = torch.Generator().manual_seed(seed * 7919 + _SPLIT_OFFSET[split] + epoch * 7_000_003)
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    labels = torch.randint(len(CLASSES), (n,), generator=g)
    shape, stacked = labels % len(SHAPES), labels // len(SHAPES)
    aspect = torch.tensor(ASPECTS)[torch.randint(len(ASPECTS), (n,), generator=g)]
    half_w, half_h = 0.5 * aspect.clamp(min=1), 0.5 / aspect.clamp(max=1)

    r = scale[0] + (scale[1] - scale[0]) * u(n)
    pair = _pair(u, n, r, gap, stacked, torch.stack([half_w, half_h], 1))

    s = N_CLUTTER + 2
    kind = torch.full((n, s), -1)
    # Clutter: 0-4 small dots and line segments, not the class shapes themselves.
    n_clutter = torch.randint(0, N_CLUTTER + 1, (n,), generator=g)
    used = torch.arange(N_CLUTTER)[None] < n_clutter[:, None]
    clutter_kind = torch.where(torch.rand(n, N_CLUTTER, generator=g) < 0.5, 0, 5)
    kind[:, :N_CLUTTER] = torch.where(used, clutter_kind, -1)
    kind[:, N_CLUTTER:] = shape[:, None]
    pos = torch.cat([(2 * u(n, N_CLUTTER, 2) - 1) * torch.stack([half_w, half_h], 1)[:, None],
                     pair], 1)
    radius = torch.cat([r[:, None] * (0.2 + 0.25 * u(n, N_CLUTTER)),
                        (r[:, None] * (0.9 + 0.2 * u(n, 2)))], 1)
    stretch = torch.exp((u(n, s) - 0.5) * 0.6)
    angle = (u(n, s) - 0.5) * (math.pi / 6)
    background = torch.stack([0.15 + 0.7 * u(n, 3), 0.3 * (u(n, 3) - 0.5),
                              0.3 * (u(n, 3) - 0.5)], 1)
    color = _colors(u(n, s, 3), background)
    noise_seed = torch.randint(2**31 - 1, (n,), generator=g)
    return Scenes(labels, aspect, kind, pos, radius, stretch, angle, color, background,
                  noise_seed)


def _pair(u, n: int, r: Tensor, gap: tuple[float, float], stacked: Tensor,
          half: Tensor) -> Tensor:
    """The pair's centres, (N, 2, 2): radius ``r``, ``gap`` radii apart along the layout
    axis (side by side or stacked), jittered across it, inside the image (``half``: its
    half width and height); drawn from ``u`` in a fixed order."""
    dist = r * (gap[0] + (gap[1] - gap[0]) * u(n))
    along = torch.stack([1 - stacked, stacked], 1).float()
    across = 1 - along
    room = half - r[:, None] - along * dist[:, None] / 2
    centre = (2 * u(n, 2) - 1) * room.clamp(min=0)
    jitter = (u(n, 2, 2) - 0.5) * 0.3 * r[:, None, None] * across[:, None, :]
    sign = torch.tensor([-1.0, 1.0])[None, :, None]
    return centre[:, None] + sign * along[:, None] * dist[:, None, None] / 2 + jitter


def _colors(color: Tensor, background: Tensor) -> Tensor:
    """Object colours moved to differ from the background by at least 0.3 in mean
    intensity."""
    bg_mean = background[:, 0].mean(1, keepdim=True)
    shift = torch.where(color.mean(2) > bg_mean, 0.3, -0.3)
    return (color + shift[..., None] * (1 - (color.mean(2) - bg_mean).abs() / 0.3).clamp(
        min=0)[..., None]).clamp(0, 1)


def _sdf(kind: int, px: Tensor, py: Tensor) -> Tensor:
    """Signed distance, in radii, to shape ``kind`` (5 = a line) at local coords (px, py)."""
    ax, ay = px.abs(), py.abs()
    if kind == 0:
        return torch.sqrt(px * px + py * py) - 1
    if kind == 1:
        return torch.maximum(ax, ay) - 0.85
    if kind == 2:
        return torch.maximum(-py, 0.866 * ax + 0.5 * py) - 0.5
    if kind == 3:
        return (torch.sqrt(px * px + py * py) - 0.72).abs() - 0.28
    if kind == 4:
        return torch.minimum(torch.maximum(ax - 1, ay - 0.3), torch.maximum(ax - 0.3, ay - 1))
    return torch.maximum(ax - 1.6, ay - 0.08)


def render(scenes: Scenes, short_side: int, crop: int | None = None) -> list[Tensor]:
    """Render scenes with shorter side ``short_side`` px; one uint8 (3, H, W) per scene.

    With ``crop``, return the centre ``crop×crop`` square of each image instead.
    """
    out: list[Tensor] = [None] * len(scenes)  # type: ignore[list-item]
    for aspect in scenes.aspect.unique().tolist():
        idx = (scenes.aspect == aspect).nonzero().flatten()
        h = short_side if aspect >= 1 else round(short_side / aspect)
        w = round(short_side * aspect) if aspect >= 1 else short_side
        for chunk in idx.split(256):
            imgs = _render_group(scenes.subset(chunk), h, w)
            if crop is not None:
                top, left = (h - crop) // 2, (w - crop) // 2
                imgs = imgs[:, :, top : top + crop, left : left + crop]
            for i, img in zip(chunk.tolist(), imgs):
                out[i] = img.contiguous()
    return out


def _render_group(sc: Scenes, h: int, w: int) -> Tensor:
    """Scenes of one size → uint8 (N, 3, h, w)."""
    short = min(h, w)
    ys = (torch.arange(h) + 0.5 - h / 2) / short
    xs = (torch.arange(w) + 0.5 - w / 2) / short
    gx, gy = xs[None, None, :], ys[None, :, None]  # (1, 1, w), (1, h, 1)
    bg = sc.background
    img = (bg[:, 0, :, None, None] + bg[:, 1, :, None, None] * gx + bg[:, 2, :, None, None] * gy)
    for slot in range(sc.kind.shape[1]):
        for kind in sc.kind[:, slot].unique().tolist():
            if kind < 0:
                continue
            sel = (sc.kind[:, slot] == kind).nonzero().flatten()
            dx = gx - sc.pos[sel, slot, 0, None, None]
            dy = gy - sc.pos[sel, slot, 1, None, None]
            ang = sc.angle[sel, slot, None, None]
            cos, sin = ang.cos(), ang.sin()
            r = sc.radius[sel, slot, None, None]
            st = sc.stretch[sel, slot, None, None].sqrt()
            px, py = (cos * dx + sin * dy) / (r * st), (-sin * dx + cos * dy) * st / r
            alpha = torch.sigmoid(_sdf(kind, px, py) * (r * (-1.5 * short)))[:, None]
            img[sel] += alpha * (sc.color[sel, slot, :, None, None] - img[sel])
    gen = torch.Generator().manual_seed(int(sc.noise_seed[0]))
    noise = torch.randn(img.shape, generator=gen) * 0.04
    return ((img + noise).clamp(0, 1) * 255).round().to(torch.uint8)
