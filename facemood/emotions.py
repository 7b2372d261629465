"""The seven FER2013 emotion labels, in label-id order."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)

# Splits named in FER2013's Usage column.
TRAINING = "Training"
PUBLIC_TEST = "PublicTest"
PRIVATE_TEST = "PrivateTest"
USAGES: tuple[str, ...] = (TRAINING, PUBLIC_TEST, PRIVATE_TEST)

IMAGE_SIDE = 48
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE


def emotion_name(label: int) -> str:
    """Return the name of label id ``label`` (0..6)."""
    return EMOTIONS[label]


def emotion_id(name: str) -> int:
    """Return the label id of emotion ``name`` (case-insensitive)."""
    try:
        return EMOTIONS.index(name.strip().lower())
    except ValueError as exc:
        raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}") from exc
