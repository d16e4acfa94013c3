"""Rules read from the sources: one clock (only app/clock.py reads the system's time), and the import-linter
layers contracts name every module they are meant to order (a module left out of a layers contract is not
checked at all, and lint-imports does not say so)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
CLOCK = APP / "clock.py"
CLOCK_READS = {"now", "utcnow", "today"}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def clock_reads(source: str) -> list[int]:
    """Lines calling datetime.now / utcnow / date.today (however datetime was imported), or a bare utcnow()."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in CLOCK_READS:
            base = _dotted(func.value).rsplit(".", 1)[-1]
            if base in ("datetime", "date"):
                lines.append(node.lineno)
        elif isinstance(func, ast.Name) and func.id == "utcnow":
            lines.append(node.lineno)
    return lines


def test_the_detector_finds_every_way_of_reading_the_clock() -> None:
    source = ("import datetime as dt\nfrom datetime import UTC, date, datetime\n"
              "a = datetime.now(UTC)\nb = dt.datetime.now()\nc = date.today()\nd = datetime.utcnow()\n"
              "e = dt.date.today()\nf = utcnow()\ng = func.now()\nh = now_utc()\n")
    assert clock_reads(source) == [3, 4, 5, 6, 7, 8]


def test_only_the_clock_reads_the_system_time() -> None:
    offenders = {str(path.relative_to(ROOT)): found for path in sorted(APP.rglob("*.py"))
                 if path != CLOCK and (found := clock_reads(path.read_text("utf-8")))}
    assert offenders == {}, "use app.clock (now_utc, local_today) instead"
    assert clock_reads(CLOCK.read_text("utf-8"))  # the one place that does


def _modules(package: Path) -> set[str]:
    """The modules and subpackages directly inside a package."""
    return ({p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
            | {p.name for p in package.iterdir() if (p / "__init__.py").exists()})


def _layer_names(contract: dict[str, object]) -> set[str]:
    layers = contract.get("layers")
    assert isinstance(layers, list)
    return {name.strip() for layer in layers for name in re.split(r"[|:]", str(layer)) if name.strip()}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["importlinter"]["contracts"])


def missing_from_layers(contracts: list[dict[str, object]]) -> dict[str, set[str]]:
    """Modules of app (top level), app.dossiers and app.jobs that no layers contract places."""
    layered = [c for c in contracts if c.get("type") == "layers"]
    top = next(c for c in layered if not c.get("containers"))
    dossiers = next(c for c in layered if c.get("containers") == ["app.dossiers"])
    top_names = _layer_names(top)
    return {
        "app": {f"app.{m}" for m in _modules(APP) if m not in ("translations", "templates", "static")}
        - {".".join(name.split(".")[:2]) for name in top_names},  # app.jobs is placed by its modules
        "app.dossiers": _modules(APP / "dossiers") - _layer_names(dossiers),
        "app.jobs": {f"app.jobs.{m}" for m in _modules(APP / "jobs")} - top_names,
    }


def test_the_layers_contracts_name_every_module() -> None:
    assert missing_from_layers(_contracts()) == {"app": set(), "app.dossiers": set(), "app.jobs": set()}


def test_a_module_left_out_of_the_contracts_is_found() -> None:
    contracts = _contracts()
    for contract in contracts:
        if contract.get("containers") == ["app.dossiers"]:
            layers = contract["layers"]
            assert isinstance(layers, list)
            contract["layers"] = [str(layer).replace(" | listings", "") for layer in layers]
        elif contract.get("type") == "layers" and not contract.get("containers"):
            layers = contract["layers"]
            assert isinstance(layers, list)
            contract["layers"] = [str(layer).replace(" : app.jobs.portal", "").replace("app.clock", "app.config")
                                  for layer in layers]
    assert missing_from_layers(contracts) == {"app": {"app.clock"}, "app.dossiers": {"listings"},
                                              "app.jobs": {"app.jobs.portal"}}
