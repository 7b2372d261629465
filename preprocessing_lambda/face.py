"""Face-preprocessing Lambda: ``{"image": <base64 JPEG/PNG/WebP>}`` -> boxes and 48x48 crops.

An adapter only; the work is :mod:`facemood.faces`. Photos are processed in memory and
never logged or stored.
"""

from __future__ import annotations

import logging
from typing import Any

from facemood.faces import FacePreprocessor
from facemood.logs import setup_logging
from facemood.service import face_response

setup_logging()
log = logging.getLogger("facemood.lambda.face")
PREPROCESSOR = FacePreprocessor()


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    """Detect and crop the faces of one photo; errors come back as ``{"ok": false, "error": ...}``."""
    response = face_response(PREPROCESSOR, event)
    log.info("faces", extra={"ok": response["ok"], "faces": len(response.get("faces", [])),
                             "error": response.get("error")})
    return response
