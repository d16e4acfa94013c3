"""The pinned requirement files are what a fresh machine installs: `scripts/run.sh` installs requirements.txt and
requirements-sandbox.txt only, so whatever the platform imports (and whatever that needs) must be pinned there, not
only in requirements-dev.txt, where the test suite would never notice it missing."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
OWN = {"app", "connectors", "sandbox", "tests", "bench", "migrations", "wsgi"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def pinned(*files: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for file in files:
        for line in (ROOT / file).read_text("utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r"):
                name, _, version = line.partition("==")
                out[_name(name)] = version
    return out


def imported(*packages: str) -> set[str]:
    """The top-level modules the packages' code imports, their own and the standard library's left out."""
    found: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in OWN and m not in sys.stdlib_module_names}


def needed(distribution: str) -> set[str]:
    """What installing the distribution installs with it (its requirements without extras or other platforms)."""
    out = set()
    for text in metadata.requires(distribution) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            out.add(_name(requirement.name))
    return out


@pytest.mark.parametrize(("packages", "files"), [
    (("app", "connectors"), ("requirements.txt",)),
    (("sandbox",), ("requirements-sandbox.txt",)),
], ids=["platform", "demo services"])
def test_every_module_imported_is_pinned_where_run_sh_installs_it(packages: tuple[str, ...],
                                                                  files: tuple[str, ...]) -> None:
    pins = pinned(*files)
    providers = metadata.packages_distributions()
    missing = {module: providers.get(module) for module in imported(*packages)
               if not any(_name(d) in pins for d in providers.get(module, [module]))}
    assert missing == {}, f"pin these in {files[0]}"


@pytest.mark.parametrize("file", ["requirements.txt", "requirements-sandbox.txt"])
def test_what_each_pin_needs_is_pinned_in_the_same_file(file: str) -> None:
    pins = pinned(file)
    unpinned = {f"{name} needs {other}" for name in pins for other in needed(name) if other not in pins}
    assert unpinned == set()


def test_the_installed_versions_are_the_pinned_ones() -> None:
    pins = pinned("requirements.txt", "requirements-sandbox.txt", "requirements-dev.txt")
    wrong = {name: (version, metadata.version(name)) for name, version in pins.items()
             if metadata.version(name) != version}
    assert wrong == {}
