"""In real headless Chromium, under the pages' own Content-Security-Policy (no bypass): the diagrams bpmn-js draws,
served by the platform from node_modules.

- An officer opens a khai sinh dossier's task page: nothing of the diagram is fetched until its section is opened;
  then the current step's SVG element carries the current marker, the completed steps and flows theirs, and the
  same is written as text lists.
- A designer opens a deployed version: its diagram is drawn with the process's elements.
Each is checked at 375 and 1280 px (nothing wider than the window, the diagram inside its box, no serious or critical
axe-core violation) with no CSP violation and no script error; MOTCUA_SCREENSHOTS=<folder> keeps a PNG of each.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from tests.e2e.conftest import login
from tests.e2e.test_pages import AXE, overflow
from tests.samples import requests_uploader, start_data, task_data, with_uploads

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("MOTCUA_SCREENSHOTS")
# What the page's policy refused and what its scripts threw, recorded from before any page script runs.
WATCH = """
window.__problems = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__problems.push(`CSP ${e.violatedDirective} refused ${e.blockedURI || 'inline'} (${e.sourceFile})`));
window.addEventListener('error', e => window.__problems.push(`error ${e.message}`));
"""


def _strict_context(browser: Browser, width: int = 1280, touch: bool = False) -> BrowserContext:
    """A context that keeps the pages' CSP (the audit's axe-core is evaluated through the debugger, which the policy
    does not govern, instead of being added as an inline script)."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN", has_touch=touch,
                                  is_mobile=touch)
    context.add_init_script(WATCH)
    return context


def _axe(page: Page) -> list[str]:
    page.evaluate(AXE.read_text("utf-8"))
    return list(page.evaluate("""async () => {
      const result = await axe.run(document, {resultTypes: ['violations']});
      return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.impact} ${v.id}: ${v.help} -- ` + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(' | '));
    }"""))


def _shift_x(transform: str | None) -> float:
    """The horizontal translation of an SVG matrix(a b c d e f) transform, commas or spaces."""
    numbers = re.findall(r"-?[\d.]+(?:e-?\d+)?", transform or "")
    assert len(numbers) == 6, transform
    return float(numbers[4])


def _problems(page: Page) -> list[str]:
    return list(page.evaluate("window.__problems || []"))


def _classes(page: Page, element_id: str) -> set[str]:
    found = page.locator(f'.djs-element[data-element-id="{element_id}"]')
    assert found.count() == 1, f"{element_id} is not drawn"
    return set((found.get_attribute("class") or "").split())


def _box_fits(page: Page) -> list[str]:
    """The drawing stays inside its box and the box inside the window."""
    return list(page.evaluate("""() => {
      const box = document.querySelector('.diagram-canvas').getBoundingClientRect();
      const svg = document.querySelector('.djs-container > svg').getBoundingClientRect();
      const out = [];
      if (box.right > window.innerWidth + 1 || box.left < -1) out.push(`box ${box.left}..${box.right} > window`);
      if (svg.right > box.right + 1 || svg.width > box.width + 1) out.push(`svg ${svg.width}px wider than box`);
      return out;
    }"""))


def _open_diagram(page: Page) -> None:
    if page.locator("#diagram-section").get_attribute("open") is None:
        page.click("#diagram-section summary")
    page.wait_for_selector(".diagram[data-state=ready]", timeout=20000)


def _check(page: Page, name: str) -> list[str]:
    """The page loaded afresh at each width (as a phone would open it), its diagram opened."""
    problems: list[str] = []
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        _open_diagram(page)
        page.locator(".diagram-canvas").scroll_into_view_if_needed()
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / f"diagram-{name}-{width}.png"), full_page=True)
            page.locator(".diagram-section").screenshot(path=str(Path(SHOTS) / f"diagram-{name}-{width}-box.png"))
        problems += [f"{name} {width} overflow: {line}" for line in overflow(page)]
        problems += [f"{name} {width} fit: {line}" for line in _box_fits(page)]
        problems += [f"{name} {width} axe: {line}" for line in _axe(page)]
        problems += [f"{name} {width}: {line}" for line in _problems(page)]
    page.set_viewport_size({"width": 1280, "height": 800})
    return problems


@pytest.fixture()
def at_examination(live_server: Any, live_token: Any) -> str:
    """A khai sinh dossier received by the desk, waiting for the civil-status officer's examination."""
    base = live_server.url
    citizen = live_token("congdan")
    created = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", headers=citizen, timeout=10,
                            json=with_uploads(requests_uploader(base), citizen, start_data("khai-sinh")))
    assert created.status_code == 201, created.text
    code = str(created.json()["code"])
    desk = live_token("tiepnhan")
    task = next(t for t in requests.get(f"{base}/api/v1/tasks", headers=desk, timeout=10).json()["items"]
                if t["dossier_code"] == code)
    done = requests.post(f"{base}/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                         headers=desk, timeout=10)
    assert done.status_code == 200, done.text
    return code


def test_officer_sees_the_completed_path_and_the_current_step(live_server: Any, browser: Browser,
                                                              at_examination: str) -> None:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (scripts/test.sh does)")
    base, code = live_server.url, at_examination
    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, "hotich")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(f"{base}/can-bo/")
    page.locator("#inbox tr", has_text=code).locator("a").first.click()
    page.wait_for_load_state("load")
    assert page.locator("#diagram-section").count() == 1 and not page.locator("#diagram-section").get_attribute("open")
    lazy = [u for u in fetched if "/tai-nguyen/" in u or "/so-do." in u]
    assert lazy == [], f"the closed diagram already fetched {lazy}"

    page.click("#diagram-section summary")
    page.wait_for_selector(".diagram[data-state=ready]", timeout=20000)
    assert any("/tai-nguyen/bpmn-js/" in u and u.endswith(".js") for u in fetched)
    assert any(u.endswith(f"/can-bo/ho-so/{code}/so-do.json") for u in fetched)

    assert "dx-current" in _classes(page, "Task_ThamDinh")
    for done in ("StartEvent_NopHoSo", "Task_TiepNhan", "Gateway_KetQuaTiepNhan", "Gateway_VaoThamDinh"):
        assert "dx-done" in _classes(page, done), done
    for flow in ("Flow_NopHoSo", "Flow_QuyetDinhTiepNhan", "Flow_TiepNhan", "Flow_VaoThamDinh"):
        assert "dx-flow" in _classes(page, flow), flow
    for ahead in ("Task_KyGiayKhaiSinh", "Task_TraKetQua", "EndEvent_DaTraKetQua", "Flow_KetQuaThamDinh"):
        assert not _classes(page, ahead) & {"dx-done", "dx-flow", "dx-current"}, ahead
    # Not by colour alone: a label on the drawing, a legend and the steps as text.
    assert page.locator(".dx-tag-current").inner_text() == "Bước hiện tại"
    assert page.locator(".diagram-legend li").count() == 3
    assert page.locator(".steps-current li").all_inner_texts() == ["Thẩm định, ghi sổ hộ tịch"]
    assert page.locator(".steps-done li").all_inner_texts() == ["Nộp hồ sơ", "Tiếp nhận hồ sơ"]

    # The buttons zoom within the box; from the keyboard, the focused diagram moves with the arrow keys.
    viewport = page.locator(".djs-container > svg .viewport")
    before = viewport.get_attribute("transform")
    page.click("[data-zoom=in]")
    zoomed = viewport.get_attribute("transform")
    assert zoomed != before
    page.focus(".djs-container > svg")
    page.keyboard.press("ArrowRight")
    assert viewport.get_attribute("transform") != zoomed
    assert page.get_attribute(".djs-container > svg", "aria-label") == "Sơ đồ quy trình (BPMN)"

    problems = _problems(page) + _check(page, "task")
    context.close()
    assert not problems, "\n".join(problems)


def test_the_diagram_loads_on_a_phone_and_the_citizen_gets_no_diagram(live_server: Any, browser: Browser,
                                                                      at_examination: str) -> None:
    base, code = live_server.url, at_examination
    context = _strict_context(browser, 375, touch=True)
    page = context.new_page()
    login(page, base, "hotich")
    page.goto(f"{base}/can-bo/")
    page.locator("#inbox tr", has_text=code).locator("a").first.click()
    page.click("#diagram-section summary")
    page.wait_for_selector(".diagram[data-state=ready]", timeout=20000)
    # Too wide to read whole on a phone: it opens on the current step, at a readable scale.
    current = page.locator('.djs-element[data-element-id="Task_ThamDinh"]').bounding_box()
    box = page.locator(".diagram-canvas").bounding_box()
    assert current is not None and box is not None
    assert box["x"] <= current["x"] and current["x"] + current["width"] <= box["x"] + box["width"]
    assert current["width"] >= 60, f"the current step is drawn {current['width']} px wide"
    assert overflow(page) == [] and _box_fits(page) == []
    assert _problems(page) == []
    # A finger drags the diagram sideways inside its box (real touch events, through the browser's input layer).
    viewport = page.locator(".djs-container > svg .viewport")
    before = viewport.get_attribute("transform")
    scroll_before = page.evaluate("window.scrollY")
    touch = context.new_cdp_session(page)
    x, y = box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 11):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x - 20 * step, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    after = viewport.get_attribute("transform")
    assert after != before, "the drag did not move the diagram"
    assert _shift_x(after) < _shift_x(before)  # moved left, with the finger
    assert page.evaluate("window.scrollY") == scroll_before and overflow(page) == []
    # Without the viewer (node_modules missing, a network cut), the box says so and the steps are still listed.
    page.route("**/tai-nguyen/**", lambda route: route.abort())
    page.reload()
    page.click("#diagram-section summary")
    page.wait_for_selector(".diagram[data-state=failed]", timeout=20000)
    assert "Không tải được sơ đồ" in page.inner_text(".diagram-status")
    page.wait_for_selector(".steps-current li")  # the progress answer may come after the viewer's failure
    assert page.locator(".steps-current li").all_inner_texts() == ["Thẩm định, ghi sổ hộ tịch"]
    context.close()

    citizen = _strict_context(browser, 375)
    page = citizen.new_page()
    login(page, base, "congdan")
    page.goto(f"{base}/ho-so/{code}")
    assert page.locator(".diagram").count() == 0  # the applicant keeps the plain step list
    assert page.request.get(f"{base}/can-bo/ho-so/{code}/so-do.json").status == 403
    citizen.close()


def test_designer_sees_the_deployed_diagram_of_a_version(live_server: Any, browser: Browser) -> None:
    base = live_server.url
    context = _strict_context(browser)
    page = context.new_page()
    login(page, base, "thietke")
    page.goto(f"{base}/thiet-ke/thu-tuc/1.001193")
    page.locator("#versions a", has_text="v1").first.click()
    page.wait_for_selector(".diagram[data-state=ready]", timeout=20000)
    for element in ("StartEvent_NopHoSo", "Task_TiepNhan", "Task_ThamDinh", "Task_KyGiayKhaiSinh", "Task_TraKetQua",
                    "Task_TraCuuMe", "EndEvent_DaTraKetQua", "Flow_DaTra"):
        _classes(page, element)
    assert "Tiếp nhận hồ sơ" in page.locator(".djs-container > svg").text_content() or ""
    assert page.locator(".dx-current, .dx-done").count() == 0  # a version, not a dossier
    problems = _problems(page) + _check(page, "studio-version")
    # The watch itself: what the policy refuses is reported.
    page.evaluate("() => document.body.insertAdjacentHTML('beforeend', '<i style=\"color:red\"></i>')")
    page.wait_for_function("window.__problems.some(p => p.startsWith('CSP style-src'))")
    context.close()
    assert not problems, "\n".join(problems)
