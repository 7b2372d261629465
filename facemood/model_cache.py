"""The model the app serves: the bundle ``models/latest.json`` names, verified, cached and refreshed."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from facemood import bundle

log = logging.getLogger(__name__)


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

        Raises StorageError or BundleIntegrityError only while no bundle was ever loaded: once
        one is, any failure of a refresh (a broken ``latest.json`` or bundle, a store that errs
        or never answers) is logged and the last verified bundle goes on serving. A refresh runs
        in one caller while every other caller is served the last verified bundle at once.
        """
        serving = self._bundle
        due = serving is None or time.monotonic() - self._checked >= self.refresh_seconds
        # a lock held across calls, not a with-block: callers that find it taken must not wait
        if serving is not None and (not due or not self._refreshing.acquire(blocking=False)):  # pylint: disable=consider-using-with
            return serving
        if serving is None:
            self._refreshing.acquire()  # pylint: disable=consider-using-with  # the first load: every caller needs it
        try:
            if self._bundle is None or time.monotonic() - self._checked >= self.refresh_seconds:
                self._checked = time.monotonic()
                self._refresh()
        except Exception as exc:  # pylint: disable=broad-exception-caught  # any store failure: keep serving
            if self._bundle is None:
                raise
            log.warning("the published model cannot be loaded; still serving the last verified one",
                        extra={"model_uri": self.uri, "error": str(exc), "serving": self._bundle.run_id})
        finally:
            self._refreshing.release()
        assert self._bundle is not None
        return self._bundle

    def _refresh(self) -> None:
        ref = bundle.resolve(self.uri, self.client)
        if self._bundle is not None and ref == self._ref:
            return
        loaded = bundle.open_bundle(ref, self.client)
        if self._bundle is not None and loaded.run_id != self._bundle.run_id:
            log.info("serving a newly published model", extra={"run_id": loaded.run_id})
        self._bundle, self._ref = loaded, ref
