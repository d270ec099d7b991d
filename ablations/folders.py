"""Image folders made from real images shipped inside a package (scikit-image's), as the
tests and the studies of ``ablations/README.md`` use them:

    python -m ablations.folders textures DIR    # 4 × 60 patches of 24-160 px, mixed modes
    python -m ablations.folders faces DIR       # 200 25×25 grey crops: faces and not
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_faces(root: Path) -> Path:
    """scikit-image's bundled LFW subset (25×25 grey crops: 100 faces, then 100 non-face
    patches; real images nobody here made) as ``root/face`` and ``root/nonface`` PNGs."""
    import numpy as np
    from PIL import Image
    from skimage.data import lfw_subset

    for i, img in enumerate(lfw_subset()):
        folder = root / ("face" if i < 100 else "nonface")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255).astype(np.uint8), "L").save(folder / f"{i % 100:03d}.png")
    return root


def write_textures(root: Path, per_class: int = 60, seed: int = 0) -> Path:
    """Patches of scikit-image's bundled textures and scans (brick, grass, gravel, a page of
    text) as a 4-class folder the way real folders come: sides of 24-160 px, aspect ratios
    up to 1:5, JPEG and PNG, grey, RGB, RGBA and CMYK."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    for name in ("brick", "grass", "gravel", "page"):
        src = getattr(data, name)()
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            short = int(rng.integers(24, 96))
            long = min(int(short * rng.uniform(1, 5)), 160, min(src.shape[:2]) - 1)
            h, w = (short, long) if rng.random() < 0.5 else (long, short)
            h, w = min(h, src.shape[0] - 1), min(w, src.shape[1] - 1)
            top, left = rng.integers(0, src.shape[0] - h), rng.integers(0, src.shape[1] - w)
            im = Image.fromarray(src[top:top + h, left:left + w]).convert("L")
            mode, ext = [("L", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("CMYK", "jpg")][k % 4]
            im.convert(mode).save(root / name / f"{k:03d}.{ext}")
    return root


if __name__ == "__main__":
    kind, root = sys.argv[1], Path(sys.argv[2])
    {"textures": write_textures, "faces": write_faces}[kind](root)
    print(f"{kind}: {root}")
