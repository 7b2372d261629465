"""int8 quantization of the exported graph with onnxruntime's own tools.

Static quantization (per-channel int8 weights, uint8 activations, QOperator format) makes the
convolutions about 3x faster on a CPU core, which pays for an ensemble with flip averaging. The
activation ranges come from Training faces, never from the rows that select or report.

Weights use 7 of their 8 bits (``reduce_range``): on CPUs without VNNI (AVX2, and AVX-512 without
VNNI, as on many Lambda and Fargate hosts) onnxruntime multiplies uint8 by int8 with an
instruction that saturates its 16-bit sums, and a full-range graph then reads differently there
than where it was checked (the model served until 2026-11 read 71.4% of PublicTest on a VNNI CPU
and 62.5% on an AVX2 one). With 7-bit weights no sum can saturate, so every CPU gives the same answers.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from facemood.bundle import Bundle
from facemood.errors import TrainingError

log = logging.getLogger(__name__)
CALIBRATION_BATCH = 16
QUANTIZED_OPS = ["Conv", "Relu", "MaxPool", "GlobalAveragePool", "Gemm"]  # softmax and the averages stay float
MAX_PROBABILITY_DIFFERENCE = 0.1  # a face's probabilities may move at most this much after quantization


def quantize_int8(source: Path, target: Path, faces: np.ndarray) -> None:
    """Write the int8 version of the float graph ``source`` to ``target``; activation ranges
    are observed on ``faces`` (uint8, (n,48,48))."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Faces(CalibrationDataReader):  # pylint: disable=abstract-method  # quantize_static calls get_next only
        """Batches of float faces for the calibration pass."""

        def __init__(self) -> None:
            self._batches = iter([{"faces": faces[i:i + CALIBRATION_BATCH, None].astype(np.float32) / 255.0}
                                  for i in range(0, len(faces), CALIBRATION_BATCH)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        # the tools warn on the root logger about every tensor they leave in float (the shape ops)
        logging.disable(logging.WARNING)
        try:
            quant_pre_process(str(source), str(prepared))
            quantize_static(str(prepared), str(target), Faces(), quant_format=QuantFormat.QOperator,
                            per_channel=True, reduce_range=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=QUANTIZED_OPS)
        finally:
            logging.disable(logging.NOTSET)


def check_quantized(float_model: Bundle, int8_model: Bundle, faces: np.ndarray) -> dict[str, float]:
    """Compare the int8 graph with the float one on ``faces``; raise if a probability strays too far.
    (The served, int8 model is the one evaluated, gated and compared with the served model.)"""
    before, after = float_model.predict_proba(faces), int8_model.predict_proba(faces)
    difference = float(np.abs(before - after).max())
    agreement = float((before.argmax(axis=1) == after.argmax(axis=1)).mean())
    if difference > MAX_PROBABILITY_DIFFERENCE:
        raise TrainingError(f"the int8 model strays from the float one: probabilities differ by up to "
                            f"{difference:.3f} (limit {MAX_PROBABILITY_DIFFERENCE})")
    log.info("int8 model: top emotion kept on %.2f%% of %d faces, max |difference| %.3f",
             100 * agreement, len(faces), difference)
    return {"max_probability_difference": round(difference, 4), "top_agreement": round(agreement, 4),
            "faces": len(faces)}
