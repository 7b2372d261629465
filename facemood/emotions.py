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
