"""The model the app serves: the bundle ``models/latest.json`` names, verified, cached and refreshed."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from facemood import bundle

log = logging.getLogger(__name__)
REFRESH_THREAD = "model-refresh"


class ModelCache:
    """The current verified bundle under a model URI, re-checked every ``refresh_seconds``.

    A refresh reads ``latest.json`` once (one small GET); a pointer that names another
    bundle loads it, so a newly published model is served within that interval.
    """

    def __init__(self, uri: str, refresh_seconds: float, client: Any = None) -> None:
        self.uri, self.refresh_seconds, self.client = uri, refresh_seconds, client
        self._bundle: bundle.Bundle | None = None
        self._ref: bundle.BundleRef | None = None
        self._checked = 0.0
        self._refreshing = threading.Lock()  # one refresh at a time; nobody waits on it once a model is loaded

    def current(self) -> bundle.Bundle:
        """The current verified bundle.

        Only the first load waits (there is nothing to serve before it) and raises StorageError
        or BundleIntegrityError when it fails. After that, a due refresh runs in the background
        (one at a time) and every caller, the one that found it due included, is served the last
        verified bundle at once; a refresh that fails (a broken ``latest.json`` or bundle, a store
        that errs or never answers) is logged and changes nothing.
        """
        serving = self._bundle
        if serving is not None:
            due = time.monotonic() - self._checked >= self.refresh_seconds
            # a lock held across threads, not a with-block: a caller that finds it taken does not wait
            if due and self._refreshing.acquire(blocking=False):  # pylint: disable=consider-using-with
                self._checked = time.monotonic()
                threading.Thread(target=self._refresh_in_background, name=REFRESH_THREAD, daemon=True).start()
            return serving
        with self._refreshing:  # the first load: every caller needs it
            if self._bundle is None:
                self._checked = time.monotonic()
                self._refresh()
        assert self._bundle is not None
        return self._bundle

    def _refresh_in_background(self) -> None:
        try:
            self._refresh()
        except Exception as exc:  # pylint: disable=broad-exception-caught  # any store failure: keep serving
            log.warning("the published model cannot be loaded; still serving the last verified one",
                        extra={"model_uri": self.uri, "error": str(exc),
                               "serving": self._bundle.run_id if self._bundle else None})
        finally:
            self._refreshing.release()

    def _refresh(self) -> None:
        ref = bundle.resolve(self.uri, self.client)
        if self._bundle is not None and ref == self._ref:
            return
        loaded = bundle.open_bundle(ref, self.client)
        if self._bundle is not None and loaded.run_id != self._bundle.run_id:
            log.info("serving a newly published model", extra={"run_id": loaded.run_id})
        self._bundle, self._ref = loaded, ref
