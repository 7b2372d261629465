"""Draw images/architecture.png, the diagram in README.md (run: python scripts/draw_architecture.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402  pylint: disable=wrong-import-position

OUT = Path(__file__).resolve().parent.parent / "images" / "architecture.png"
BOXES = {  # name: (x, y, label, colour)
    "raw": (0.5, 4.2, "raw bucket\n(S3)", "#e8f1f8"),
    "augment": (3.2, 4.2, "augment Lambda\nvalidate + augment", "#fdf2e3"),
    "refined": (5.9, 4.2, "refined bucket\n(S3)", "#e8f1f8"),
    "train": (5.9, 2.4, "training task\nECS Fargate", "#fdf2e3"),
    "model": (8.6, 2.4, "model bucket\nmodels/latest.json", "#e8f1f8"),
    "browser": (0.5, 0.6, "student's\nbrowser", "#eef6ee"),
    "app": (3.2, 0.6, "Streamlit app\nECS + HTTPS ALB", "#fdf2e3"),
    "face": (5.9, 0.6, "face Lambda\ndetect + crop 48x48", "#fdf2e3"),
}
ARROWS = [("raw", "augment", "S3 ObjectCreated"), ("augment", "refined", "CSV.gz + report"),
          ("refined", "train", "refined data"), ("train", "model", "verified bundle"),
          ("browser", "app", "photo"), ("app", "face", "invoke"), ("model", "app", "current model")]


def main() -> None:
    """Draw and save the diagram."""
    fig, ax = plt.subplots(figsize=(11, 5.2))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 5.4)
    ax.axis("off")
    for x, y, label, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), 2.0, 0.9, boxstyle="round,pad=0.05", facecolor=colour, edgecolor="#445"))
        ax.text(x + 1.0, y + 0.45, label, ha="center", va="center", fontsize=9)
    for start, end, label in ARROWS:
        (x0, y0, *_), (x1, y1, *_) = BOXES[start], BOXES[end]
        a, b = (x0 + 1.0, y0 + 0.45), (x1 + 1.0, y1 + 0.45)
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color="#445",
                                     shrinkA=48, shrinkB=48, connectionstyle="arc3,rad=0.0"))
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, label, ha="center", fontsize=8, color="#335")
    ax.set_title("FaceMood: the three processes "
                 "(locally: moto S3 on loopback, an event relay, the face step in-process)", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)


if __name__ == "__main__":
    main()
