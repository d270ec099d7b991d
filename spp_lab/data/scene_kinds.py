"""What the embedded ``shapes`` scenes are made of (no torch): their classes and aspect
ratios, read by the renderer (:mod:`spp_lab.data.shapes`) and by the dataset's torch-free
registration (:mod:`spp_lab.data.sets.shapes`) alike."""

SHAPES = ("disk", "square", "triangle", "ring", "cross")
LAYOUTS = ("side-by-side", "stacked")
CLASSES = tuple(f"{s} {lay}" for lay in LAYOUTS for s in SHAPES)  # (shape, layout): 10
ASPECTS = (0.75, 1.0, 4 / 3)  # width / height of the scenes
