"""The check every browser test makes of a page it shows: at a phone's width (375 px) and a desktop's (1280 px),
nothing wider than the window, no serious or critical axe-core violation, nothing refused by the pages' policy nor
thrown by their scripts (recorded by the strict context of test_diagram_browser); MOTCUA_SCREENSHOTS=<folder> keeps
a full-page PNG of each."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from tests.e2e.test_diagram_browser import _axe, _problems
from tests.e2e.test_pages import WIDTHS, overflow

SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")


def at_both_widths(page: Page, name: str, prefix: str, prepare: Callable[[Page], None] | None = None) -> list[str]:
    """The page at each width (`prepare` runs first at each: a reload, opening a section), then back at 1280 px;
    the problems found, one line each, named `name` (screenshots: `<prefix>-<name>-<width>.png`)."""
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        if prepare is not None:
            prepare(page)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"{prefix}-{name}-{width}.png"), full_page=True)
        problems += [f"{name} {width} overflow: {line}" for line in overflow(page)]
        problems += [f"{name} {width} axe: {line}" for line in _axe(page)]
        problems += [f"{name} {width}: {line}" for line in _problems(page)]
    page.set_viewport_size({"width": 1280, "height": 800})
    return problems
