"""Train / validation / test splits, from the Usage column or a grouped stratified split."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facemood.emotions import PRIVATE_TEST, PUBLIC_TEST, TRAINING
from facemood.errors import TrainingError
from facemood.faceset import FaceSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Training fits, validation selects and early-stops, test is scored once at the end."""

    train: FaceSet
    validation: FaceSet
    test: FaceSet | None
    validation_name: str  # "PublicTest" or "held-out validation"
    test_name: str | None


def grouped_stratified_split(labels: np.ndarray, groups: np.ndarray, fraction: float,
                             seed: int) -> np.ndarray:
    """Return a boolean validation mask holding about ``fraction`` of each label's groups.

    Every row of a group (all augmented copies of one source face) lands on the same side.
    A group's label is the label of its first row.
    """
    rng = np.random.default_rng(seed)
    unique_groups, first = np.unique(groups, return_index=True)
    group_labels = labels[first]
    chosen = []
    for label in np.unique(group_labels):
        members = unique_groups[group_labels == label]
        count = int(round(len(members) * fraction))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.isin(groups, np.concatenate(chosen))


def make_splits(faces: FaceSet, validation_fraction: float, seed: int) -> Splits:
    """Split ``faces`` as the training task needs; raise TrainingError when unusable."""
    if len(faces) == 0:
        raise TrainingError("the training data has no valid rows")
    if faces.usage is not None:
        train, validation = faces.split(TRAINING), faces.split(PUBLIC_TEST)
        test = faces.split(PRIVATE_TEST)
        if len(validation) == 0:
            raise TrainingError("the data has a Usage column but no PublicTest rows to validate on")
        splits = Splits(train, validation, test if len(test) else None, PUBLIC_TEST,
                        PRIVATE_TEST if len(test) else None)
    else:
        groups = faces.source if faces.source is not None else np.arange(len(faces))
        mask = grouped_stratified_split(faces.labels, groups, validation_fraction, seed)
        held_out = mask if faces.augmented is None else mask & ~faces.augmented
        # Augmented twins of held-out faces are dropped, never trained on; only originals validate.
        splits = Splits(faces.subset(~mask), faces.subset(held_out), None, "held-out validation", None)
        log.info("no Usage column: held out %d of %d rows, grouped by source row",
                 len(splits.validation), len(faces))
    if len(splits.train) == 0:
        raise TrainingError("the data has no Training rows")
    present = np.flatnonzero(splits.train.class_counts())
    if len(present) < 2:
        raise TrainingError(f"the training data holds a single class (label {present[0]}); "
                            "at least two are needed")
    return splits
