"""What every figure of the pipeline shares: the PNG writer, the point budget and the two colours.

Light on purpose (matplotlib and Pillow only): the cosmology experiment's figures use it without the n-body
figures' imports (the trained models, JAX).
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image

from symdistill.core.io import atomic_output

DPI = 80
MAX_POINTS = 2000  # edges drawn per scatter: enough to show the shape, small enough to keep the PNG light
HIGHLIGHT, MUTED = "C3", "0.65"


def save(fig: Figure, path: str | Path) -> None:
    """A 256-colour PNG: the figures are lines, points and flat fills, so a palette loses nothing visible and
    the files (which the report embeds, every cell's) shrink about 2.5×."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    image = Image.open(buffer).convert("RGB").quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    with atomic_output(path) as tmp:
        image.save(tmp, format="png", optimize=True)
