"""Real headless Chromium (Debian's) for the browser tests, and helpers they share."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (scripts/test.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/dang-nhap")
    if not page.is_visible("#username"):  # passwords for the administrator only: the form is folded away
        page.click("details.login-card summary")
    page.fill("#username", username)
    page.fill("#password", "demo123")
    page.click("button[type=submit]")
    page.wait_for_load_state()
