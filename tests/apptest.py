"""Helpers for driving the page headlessly with Streamlit's AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from facemood.config import REPO_ROOT

APP = str(REPO_ROOT / "app" / "app.py")
CONFIG = REPO_ROOT / "config"


def upload(test: AppTest, data: bytes, name: str = "me.jpg", mime: str = "image/jpeg") -> AppTest:
    """Upload a file through the page's uploader and rerun; the page must not raise."""
    test.file_uploader(key="upload").upload(name, data, mime)
    test.run()
    assert not test.exception, test.exception
    return test


def texts(test: AppTest, kind: str) -> list[str]:
    """The values of every element of one kind on the page."""
    return [element.value for element in getattr(test, kind)]
