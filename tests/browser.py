"""Headless Chromium for the tests that look at pages as a person would.

Debian's ``chromium`` driven by Playwright (``playwright`` from PyPI, never its own browser
download). Where either is missing the tests skip with the reason — except under
``CI=true``, where a missing browser fails them: CI must prove the pages render.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Screenshots the tests keep (not committed; CI may upload the folder).
ARTIFACTS = REPO / ".artifacts"

#: The flags this machine's closed network needs (see the environment notes).
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return os.environ.get("TRADEWIND_CHROMIUM") or shutil.which("chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page and the list its JavaScript errors and console errors collect in."""
    exe = chromium_path()
    if exe is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            def on_console(message: Any) -> None:
                if message.type == "error":
                    errors.append(f"console error: {message.text}")

            page.on("console", on_console)
            yield page, errors
        finally:
            browser.close()


def keep_screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under .artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
