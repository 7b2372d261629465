"""Face-preprocessing Lambda: ``{"image": <base64 JPEG/PNG/WebP>}`` -> boxes and 48x48 crops.

An adapter: it checks the request, calls :mod:`facemood.faces` and builds the reply the
app's :class:`facemood.face_steps.LambdaFaceStep` reads. Photos are processed in memory and
never logged or stored.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from typing import Any

from facemood.errors import InvalidImage
from facemood.faces import MIB, NO_FACE_MESSAGE, FacePreprocessor, load_face_settings
from facemood.logs import setup_logging

log = logging.getLogger("facemood.lambda.face")


@functools.cache
def shared_preprocessor() -> FacePreprocessor:
    """Logging and the detector, made on the first request and kept (importing does nothing)."""
    setup_logging()
    return FacePreprocessor(load_face_settings())


def face_response(preprocessor: FacePreprocessor, event: dict[str, Any]) -> dict[str, Any]:
    """The reply to ``event``: ``{"ok": true, "image_size", "faces"}`` or ``{"ok": false, "error"}``."""
    encoded = event.get("image") if isinstance(event, dict) else None
    if not isinstance(encoded, str) or not encoded:
        return {"ok": False, "error": 'the request must be {"image": "<base64 JPEG, PNG or WebP>"}'}
    limit = preprocessor.settings.max_request_bytes
    if len(encoded) > limit:
        return {"ok": False, "error": f"the request is {len(encoded) / MIB:.1f} MiB; Lambda's limit is "
                                      f"{limit / MIB:.1f} MiB", "kind": "too_big"}
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return {"ok": False, "error": "the image is not valid base64"}
    try:
        found = preprocessor(data)
    except InvalidImage as exc:
        return {"ok": False, "error": str(exc), "kind": exc.kind}
    response: dict[str, Any] = {"ok": True, "image_size": list(found.image_size),
                                "faces": [f.to_json() for f in found.faces], "faces_found": found.found}
    if not found.faces:
        response["message"] = NO_FACE_MESSAGE
    return response


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    """Detect and crop the faces of one photo; errors come back as ``{"ok": false, "error": ...}``."""
    response = face_response(shared_preprocessor(), event)
    log.info("faces", extra={"ok": response["ok"], "faces": len(response.get("faces", [])),
                             "error": response.get("error")})
    return response
