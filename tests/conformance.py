"""The MIWG conformance corpus counted by verdict and by the tool that wrote each file.

The corpus lives outside the repository, in the shared folder beside it (`shared/conformance/miwg`, found by walking
up from here, or named by MOTCUA_CONFORMANCE). Its sub-folders name the tool: reference/ (the MIWG reference
models), bpmn-io-18.6.1/, signavio-19.9.0/, camunda-eclipse-3.0.0/, bizagi-2.8.0.8/; file names end in -export or
-roundtrip (the tool's export of the reference model, or the reference model imported and saved again).

    .venv/bin/python -m tests.conformance            # the table, in Markdown, for the README
    .venv/bin/python -m tests.conformance --files    # and one line per file: verdict, reason

tests/unit/test_conformance.py asserts the counts, so that a change of the checker that moves a file from one
verdict to another is seen and the README's table updated with it.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from app.engine.analysis import VERDICTS, BpmnAnalysis, analyze_bpmn

TOOLS = {
    "reference": "MIWG reference models",
    "bpmn-io-18.6.1": "bpmn.io / Camunda Modeler 18.6.1",
    "signavio-19.9.0": "SAP Signavio 19.9.0",
    "camunda-eclipse-3.0.0": "Camunda Eclipse plugin 3.0.0",
    "bizagi-2.8.0.8": "Bizagi Modeler 2.8.0.8",
}
LABELS = {"deployable": "deployable", "not_executable": "not executable", "invalid": "invalid"}


def corpus_dir() -> Path | None:
    """shared/conformance/miwg beside the repository (or a worktree of it), or MOTCUA_CONFORMANCE."""
    named = os.environ.get("MOTCUA_CONFORMANCE")
    if named:
        path = Path(named)
        return path / "miwg" if (path / "miwg").is_dir() else path if path.is_dir() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "conformance" / "miwg"
        if candidate.is_dir():
            return candidate
    return None


def corpus_files(root: Path | None = None) -> list[Path]:
    root = root or corpus_dir()
    return sorted(root.rglob("*.bpmn")) if root is not None else []


def tool_of(path: Path, root: Path) -> str:
    return path.relative_to(root).parts[0]


def kind_of(path: Path) -> str:
    """export, roundtrip or reference, from the file name (A.2.0-rountrip.bpmn is bpmn.io's own spelling)."""
    stem = path.name.lower()
    if "-export" in stem:
        return "export"
    if "-roundtrip" in stem or "-rountrip" in stem:
        return "roundtrip"
    return "reference"


def analyze(path: Path) -> BpmnAnalysis:
    return analyze_bpmn({path.name: path.read_bytes()})


@dataclass
class Counts:
    files: list[tuple[Path, BpmnAnalysis]]
    root: Path

    @property
    def by_verdict(self) -> Counter[str]:
        return Counter(a.verdict for _, a in self.files)

    @property
    def by_tool(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {tool: Counter() for tool in TOOLS}
        for path, analysis in self.files:
            out.setdefault(tool_of(path, self.root), Counter())[analysis.verdict] += 1
        return {tool: counts for tool, counts in out.items() if counts}

    @property
    def by_code(self) -> Counter[str]:
        """Files whose problems include each error code (once per file)."""
        return Counter(code for _, a in self.files
                       for code in {p.code for p in a.problems if p.severity == "error"})

    def table(self) -> str:
        """The README's table: one row per tool, one column per verdict, and the total."""
        head = "| tool | files | " + " | ".join(LABELS[v] for v in VERDICTS) + " |"
        rows = [head, "|" + "---|" * (len(VERDICTS) + 2)]
        for tool, counts in self.by_tool.items():
            rows.append(f"| {TOOLS.get(tool, tool)} (`{tool}/`) | {sum(counts.values())} | "
                        + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
        total = self.by_verdict
        rows.append(f"| **all** | **{sum(total.values())}** | " + " | ".join(f"**{total[v]}**" for v in VERDICTS)
                    + " |")
        return "\n".join(rows)


def after_conversion(counts: Counts) -> Counter[tuple[str, str]]:
    """(verdict before, verdict after) of each file the studio's conversion (app.procedures.convert) changes, each
    file taken alone as a package's diagram (no manifest, no forms: only the isExecutable mapping can apply)."""
    from app.procedures.convert import convert_package
    from app.procedures.package import PackageFiles

    moved: Counter[tuple[str, str]] = Counter()
    for path, analysis in counts.files:
        conversion = convert_package(PackageFiles(slug="miwg", bpmn={path.name: path.read_bytes()}))
        if conversion.changes:
            moved[(analysis.verdict, analyze_bpmn(conversion.package.bpmn).verdict)] += 1
    return moved


def count(root: Path | None = None) -> Counts:
    root = root or corpus_dir()
    if root is None:
        raise FileNotFoundError("conformance corpus not found (shared/conformance/miwg); set MOTCUA_CONFORMANCE")
    return Counts([(path, analyze(path)) for path in corpus_files(root)], root)


def main(argv: list[str]) -> int:
    counts = count()
    print(counts.table())
    print()
    print("files per error code: " + ", ".join(f"{code}={n}" for code, n in counts.by_code.most_common()))
    moved = after_conversion(counts)
    print(f"the studio's conversion applies to {sum(moved.values())} files: "
          + ", ".join(f"{before} → {after}: {n}" for (before, after), n in sorted(moved.items())))
    if "--files" in argv:
        print()
        for path, analysis in counts.files:
            print(f"{path.relative_to(counts.root)}\t{analysis.verdict}\t{analysis.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
