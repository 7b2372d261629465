"""Stand-ins for an onnxruntime session in tests of the code around a graph."""

from __future__ import annotations

import numpy as np


class FixedGraph:
    """An onnxruntime-like session that answers every face with one set of probabilities."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = np.asarray(probabilities, dtype=np.float32)

    def get_inputs(self):
        """The graph's one input."""
        return [type("Input", (), {"name": "faces"})()]

    def run(self, _outputs, feeds):
        """The same probabilities for every face fed."""
        return [np.tile(self.probabilities, (len(feeds["faces"]), 1))]
