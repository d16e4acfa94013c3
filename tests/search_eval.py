"""The search's measure: 50 questions, each with the procedure that answers it, over the shipped procedures and a
catalogue of 35 more (tests/unit/data/search/). Used by bench/search.py (prints the rates) and
tests/unit/test_search_quality.py (asserts a floor)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.procedures.search import Answer, Entry, SearchIndex

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "unit" / "data" / "search"


@dataclass(frozen=True)
class Question:
    q: str
    expected: str
    first: bool


@dataclass(frozen=True)
class Outcome:
    question: Question
    answers: list[Answer]

    @property
    def rank(self) -> int | None:
        """1-based place of the expected procedure, None when it is not found at all."""
        return next((i + 1 for i, a in enumerate(self.answers) if a.code == self.question.expected), None)


def manifests() -> list[dict[str, Any]]:
    """The shipped procedures' manifests, then the evaluation catalogue's."""
    shipped = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "bpmn").glob("*/procedure.json"))]
    extra = json.loads((DATA / "catalogue.json").read_text(encoding="utf-8"))["procedures"]
    return shipped + extra


def questions() -> list[Question]:
    rows = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))["questions"]
    return [Question(r["q"], r["expected"], bool(r.get("first"))) for r in rows]


def index() -> SearchIndex:
    return SearchIndex(Entry.of(m["code"], m["name"], m) for m in manifests())


def evaluate(search: SearchIndex | None = None) -> list[Outcome]:
    search = search or index()
    return [Outcome(q, search.search(q.q, explained=3)) for q in questions()]


def hit_rate(outcomes: list[Outcome], k: int) -> float:
    return sum(1 for o in outcomes if o.rank is not None and o.rank <= k) / len(outcomes)
