"""Finding a procedure from a plain question ("con tôi mới sinh cần làm giấy tờ gì?").

What is searched, per procedure: its name, the everyday names a designer gives it (`synonyms` in procedure.json),
its `description`, its components' names and its field (lĩnh vực). Every text is cut into syllables, folded
(accents and case ignored, đ → d, the y/i spellings of kỳ/kì made one) and stripped of the words of a question
that say nothing about the procedure ("cần", "làm", "gì", "thế nào", "ở đâu", "tôi" …). Vietnamese words are mostly
two syllables, so each pair of neighbouring syllables is a term too: "khai sinh" counts more than "khai" and "sinh"
found apart.

Ranking is BM25 (the `bm25s` library), one index per field, the field scores added with the weights of WEIGHTS: a
word of the name or of an everyday name counts more than one of a component. A word of the question that no
procedure has (a typo: "khai sin", "thuong trus") is read as the closest word that some procedure has, when it is
close enough (the `rapidfuzz` library), and the answer says so.

The index of a set of procedure versions is built once per process, when that set is first searched (the key is
the versions' content hashes, so a deployment or a retirement makes a new one), and the same Python code ranks on
SQLite and on PostgreSQL. Which procedures are searched is the caller's: the catalogue's own (current version,
not started by a schedule). Nothing here reads a request.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import bm25s
import numpy as np
from flask_babel import gettext, lazy_gettext
from rapidfuzz import fuzz, process

# Field → weight of its BM25 score in the sum; also the order in which an answer's matches are shown.
WEIGHTS: dict[str, float] = {"name": 3.0, "synonyms": 2.5, "description": 1.0, "components": 0.6, "field": 0.6}
FIELD_LABELS = {
    "code": lazy_gettext("Mã thủ tục"),
    "name": lazy_gettext("Tên thủ tục"),
    "synonyms": lazy_gettext("Cách gọi thường dùng"),
    "description": lazy_gettext("Mô tả"),
    "components": lazy_gettext("Thành phần hồ sơ"),
    "field": lazy_gettext("Lĩnh vực"),
}

# Where a word was found, in a sentence ("«khai sinh» trong tên thủ tục").
FIELD_PLACES = {
    "code": lazy_gettext("mã thủ tục"),
    "name": lazy_gettext("tên thủ tục"),
    "synonyms": lazy_gettext("cách gọi thường dùng"),
    "description": lazy_gettext("mô tả"),
    "components": lazy_gettext("thành phần hồ sơ"),
    "field": lazy_gettext("lĩnh vực"),
}

# Words of a question that say nothing about which procedure is meant. Phrases (folded) go first: "giấy tờ" is
# noise in "cần giấy tờ gì" while "tờ" alone folds like "tố" of "tố cáo". Single words are matched with their
# accents, since folding makes some of them a procedure's word: "cần" → "can" as "căn cước", "cán bộ"; "để" → "de"
# as "mới đẻ". A question typed without accents is read with that in mind: see SearchIndex.read.
STOP_PHRASES: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "nhu the nao", "the nao", "o dau", "bao lau", "bao nhieu", "giay to", "thu tuc", "ho so", "lam sao",
    "di dau", "muon biet", "cho hoi", "xin hoi", "tai sao", "vi sao", "duoc khong", "co duoc", "hay khong",
    "co phai", "bay gio", "hien nay", "can lam", "phai lam",
))
STOP_WORDS = frozenset((
    "à", "ạ", "ah", "ai", "anh", "bạn", "bị", "các", "cần", "chị", "cho", "chưa", "chứ", "có", "của", "đã", "đang",
    "để", "đi", "đó", "được", "em", "gì", "giùm", "giúp", "hả", "hay", "hỏi", "khi", "không", "là", "làm", "lúc",
    "mà", "mình", "muốn", "nào", "nè", "nếu", "nha", "nhé", "nhỉ", "nhờ", "những", "như", "ở", "ơi", "phải", "ra",
    "rằng", "rồi", "sẽ", "thì", "thôi", "tôi", "tui", "và", "vậy", "về", "vì", "với", "xin", "ko", "k", "dc", "đc",
    "j", "gi", "ông", "bà", "cô", "chú", "bác", "dì", "mợ",
))
_WORD = re.compile(r"\w+")
_Y_AS_I = re.compile(r"^((?:qu)|[bcdghklmnprstvx]+)y$")  # kỳ/kì, lý/lí, mỹ/mĩ, quý/quí: one spelling

# A word of the question unknown to every procedure is read as the closest known word at least this similar
# (rapidfuzz's ratio, 0–100). One shorter than MIN_TYPO_LENGTH letters is too easily close to anything ("ong",
# "cong"): it is only read as the start of a known word ("sin" → "sinh"), never below 3 letters.
TYPO_SIMILARITY = 80.0
MIN_TYPO_LENGTH = 4


@lru_cache(maxsize=100_000)  # a catalogue has a few thousand distinct syllables
def fold_word(word: str) -> str:
    """One syllable as searched: «Kỳ» → «ki», «Đăng» → «dang»."""
    bare = unicodedata.normalize("NFD", word.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in bare if not unicodedata.combining(c)).casefold()
    return _Y_AS_I.sub(r"\1i", text)


@dataclass(frozen=True)
class Token:
    term: str  # folded
    start: int  # in the original text
    end: int
    # Typed without accents and folding like a stop word ("can": "cần"? "căn"?): a question keeps it only
    # where it makes a known pair with a neighbour ("can cuoc").
    doubtful: bool = False
    exact: str = ""  # lower case with its accents, when it has any


_STOP_FOLDED = frozenset(fold_word(w) for w in STOP_WORDS)
_PHRASES_BY_FIRST: dict[str, list[tuple[str, ...]]] = {}
for _p in STOP_PHRASES:
    _PHRASES_BY_FIRST.setdefault(_p[0], []).append(_p)


@lru_cache(maxsize=20_000)  # the same component names recur across procedures
def tokens(text: str) -> tuple[Token, ...]:
    """The syllables of `text` that carry meaning, folded, with where each stands in `text`."""
    found = []
    for m in _WORD.finditer(text):
        word = unicodedata.normalize("NFC", m.group()).lower()
        term = fold_word(word)
        found.append((Token(term, m.start(), m.end(), doubtful=term in _STOP_FOLDED and word == term,
                            exact="" if word == term else word), word in STOP_WORDS))
    kept: list[Token] = []
    i = 0
    while i < len(found):
        phrase = next((p for p in _PHRASES_BY_FIRST.get(found[i][0].term, ())
                       if tuple(t.term for t, _ in found[i:i + len(p)]) == p), None)
        if phrase is not None:
            i += len(phrase)
            continue
        token, stop = found[i]
        if not stop and token.term.strip("_"):
            kept.append(token)
        i += 1
    return tuple(kept)


def terms(words: Sequence[str]) -> list[str]:
    """Syllables and pairs of neighbouring syllables ("khai", "sinh", "khai sinh")."""
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


@dataclass(frozen=True)
class Entry:
    """One procedure as searched: its code and its texts by field (synonyms and components: several)."""

    code: str
    name: str
    texts: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, code: str, name: str, manifest: Mapping[str, Any]) -> Entry:
        return cls(code, name, {
            "name": (name,),
            "synonyms": tuple(str(s) for s in manifest.get("synonyms") or ()),
            "description": (str(manifest["description"]),) if manifest.get("description") else (),
            "components": tuple(str(c.get("name", "")) for c in manifest.get("components") or ()
                                if isinstance(c, Mapping)),
            "field": (str(manifest["field"]),) if manifest.get("field") else (),
        })


@dataclass(frozen=True)
class Match:
    """Why an answer matched in one field: its texts that hold a matched word, with the matched words' places."""

    field: str
    label: str
    texts: list[tuple[str, list[tuple[int, int]]]]  # (text, [(start, end) of a highlighted run])
    words: list[str]  # the question's words found there, as the question spells them

    def segments(self, index: int) -> list[tuple[str, bool]]:
        """The `index`-th text cut into (piece, highlighted) for a template."""
        text, spans = self.texts[index]
        out: list[tuple[str, bool]] = []
        at = 0
        for start, end in spans:
            if start > at:
                out.append((text[at:start], False))
            out.append((text[start:end], True))
            at = end
        if at < len(text):
            out.append((text[at:], False))
        return out


@dataclass(frozen=True)
class Answer:
    code: str
    name: str
    score: float
    matches: list[Match] = field(default_factory=list)
    corrections: list[tuple[str, str]] = field(default_factory=list)  # (as asked, as read)

    def explanation(self) -> str:
        """Why it matched, in one sentence: «Tìm thấy «khai sinh» trong tên thủ tục; «con mới sinh» trong …»."""
        reasons = [gettext("%(words)s trong %(place)s", words=", ".join(f"«{w}»" for w in m.words),
                           place=FIELD_PLACES[m.field]) for m in self.matches if m.words]
        return gettext("Tìm thấy %(reasons)s.", reasons="; ".join(reasons)) if reasons else ""


@dataclass
class Query:
    text: str
    words: list[str]  # folded, after corrections
    spelled: dict[str, str]  # folded word → as the question spells it
    corrections: list[tuple[str, str]]
    exact: list[str] = field(default_factory=list)  # the words typed with accents, as typed
    places: list[tuple[int, int]] = field(default_factory=list)  # where each of `words` stands in `text`
    corrected: set[int] = field(default_factory=set)  # which of `words` were read as another word

    def shown(self, first: int, last: int) -> str:
        """Words first..last as the question types them (a typo: as the catalogue spells the word read instead);
        the question words between them are left out ("con tôi mới sinh" → "con mới sinh")."""
        return " ".join(self.spelled[w] if i in self.corrected else self.text[self.places[i][0]:self.places[i][1]]
                        for i, w in enumerate(self.words[first:last + 1], start=first))


SNIPPET = 220  # characters of a long description shown around its first match


class SearchIndex:
    """BM25 indexes of a set of procedures, one per field of WEIGHTS."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = list(entries)
        self.models: dict[str, bm25s.BM25] = {}
        self.vocabulary: dict[str, str] = {}  # folded syllable → one of its spellings in the texts
        # entry → field → [(text, its tokens)]
        self.texts: list[dict[str, list[tuple[str, tuple[Token, ...]]]]] = [
            {name: [(text, tokens(text)) for text in entry.texts.get(name, ())] for name in WEIGHTS}
            for entry in self.entries]
        for name in WEIGHTS:
            corpus = []
            for texts in self.texts:
                words: list[str] = []
                for text, found in texts[name]:
                    for t in found:
                        self.vocabulary.setdefault(t.term, text[t.start:t.end].lower())
                    words += terms([t.term for t in found]) + [f"={t.exact}" for t in found if t.exact]
                corpus.append(words)
            if any(corpus):  # a field no procedure fills has no index
                model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)  # Lucene's defaults
                model.index(corpus, show_progress=False)
                self.models[name] = model
        self._known = sorted(self.vocabulary)
        # the pairs of syllables of names and everyday names: what makes "can" of "can cuoc" a word, not «cần»
        self._pairs = {term for name in ("name", "synonyms") if name in self.models
                       for term in self.models[name].vocab_dict if " " in term}

    def read(self, text: str) -> Query:
        """The question's words, each unknown one read as the closest known word when there is one close enough."""
        candidates = tokens(text)
        pairs = self._pairs

        def paired(i: int) -> bool:
            left = i > 0 and f"{candidates[i - 1].term} {candidates[i].term}" in pairs
            right = i + 1 < len(candidates) and f"{candidates[i].term} {candidates[i + 1].term}" in pairs
            return left or right

        found = [t for i, t in enumerate(candidates) if not t.doubtful or paired(i)]
        words: list[str] = []
        spelled: dict[str, str] = {}
        corrections: list[tuple[str, str]] = []
        exact = [t.exact for t in found if t.exact]
        corrected = set()
        for t in found:
            word, asked = t.term, text[t.start:t.end]
            if word not in self.vocabulary and len(word) >= 3 and not word.isdigit() and self._known:
                known = self._known if len(word) >= MIN_TYPO_LENGTH else [k for k in self._known if k.startswith(word)]
                best = process.extractOne(word, known, scorer=fuzz.ratio, score_cutoff=TYPO_SIMILARITY)
                if best is not None:
                    word = best[0]
                    corrections.append((asked, self.vocabulary[word]))
                    corrected.add(len(words))
            words.append(word)
            spelled.setdefault(word, asked if word == t.term else self.vocabulary.get(word, asked))
        return Query(text, words, spelled, corrections, exact, [(t.start, t.end) for t in found], corrected)

    def search(self, text: str, limit: int | None = None, explained: int | None = None) -> list[Answer]:
        """The procedures that match `text`, best first (ties by code), the first `explained` of them (all when
        None) with why they matched."""
        if not self.entries:
            return []
        if is_code(text):
            return self._by_code(text.strip(), limit)
        query = self.read(text)
        wanted = list(dict.fromkeys(terms(query.words) + [f"={w}" for w in query.exact]))
        total = np.zeros(len(self.entries))
        parts: dict[tuple[str, str], Any] = {}
        for name, model in self.models.items():
            weight = WEIGHTS[name]
            for term in wanted:
                if term in model.vocab_dict:
                    scores = model.get_scores([term]) * weight
                    parts[name, term] = scores
                    total += scores
        ranked = sorted((i for i in range(len(self.entries)) if total[i] > 0),
                        key=lambda i: (-total[i], self.entries[i].code))
        if limit is not None:
            ranked = ranked[:limit]
        return [Answer(self.entries[i].code, self.entries[i].name, float(total[i]),
                       self._matches(i, parts, query) if explained is None or place < explained else [],
                       query.corrections) for place, i in enumerate(ranked)]

    def _by_code(self, code: str, limit: int | None) -> list[Answer]:
        """A code, or the start of one: the procedures whose code holds it, by code."""
        found = [Answer(e.code, e.name, 1.0, [Match("code", str(FIELD_LABELS["code"]),
                                                    [(e.code, [(e.code.index(code), e.code.index(code) + len(code))])],
                                                    [code])])
                 for e in sorted(self.entries, key=lambda e: e.code) if code in e.code]
        return found[:limit] if limit is not None else found

    def _matches(self, i: int, parts: Mapping[tuple[str, str], Any], query: Query) -> list[Match]:
        out = []
        for name in WEIGHTS:
            found = {term for (f, term), scores in parts.items() if f == name and scores[i] > 0}
            if not found:
                continue
            texts = []
            for order, (text, found_tokens) in enumerate(self.texts[i][name]):
                marked = [t for j, t in enumerate(found_tokens) if _matched(found_tokens, j, found)]
                if marked:
                    # the texts holding most of the matched terms first ("con mới sinh" before "giấy khai sinh")
                    held = len(found & set(terms([t.term for t in found_tokens])))
                    texts.append((-held, order, text, _runs(text, marked)))
            texts.sort(key=lambda row: row[:2])
            shown = [_snippet(text, spans) if name == "description" else (text, spans)
                     for _, _, text, spans in texts[:3]]
            words = list(dict.fromkeys(query.shown(a, b) for a, b in _phrases(query.words, found)))
            out.append(Match(name, str(FIELD_LABELS[name]), shown, words))
        return out


def _matched(found_tokens: Sequence[Token], j: int, found: set[str]) -> bool:
    """Whether the j-th token is a matched word, or half of a matched pair of neighbours."""
    term = found_tokens[j].term
    return (term in found or (j > 0 and f"{found_tokens[j - 1].term} {term}" in found)
            or (j + 1 < len(found_tokens) and f"{term} {found_tokens[j + 1].term}" in found))


def _phrases(words: Sequence[str], found: set[str]) -> list[tuple[int, int]]:
    """The question's words found, as (first, last) runs where neighbours were found as a pair: "thẻ bảo hiểm y tế"
    rather than "thẻ bảo", "bảo hiểm", "hiểm y", "y tế"."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for j, word in enumerate(words):
        if start is not None and f"{words[j - 1]} {word}" in found:
            continue
        if start is not None:
            runs.append((start, j - 1))
            start = None
        if word in found or (j + 1 < len(words) and f"{word} {words[j + 1]}" in found):
            start = j
    if start is not None:
        runs.append((start, len(words) - 1))
    return runs


def _runs(text: str, found: Sequence[Token]) -> list[tuple[int, int]]:
    """Highlighted runs: matched syllables, neighbours separated only by spaces joined into one."""
    runs: list[tuple[int, int]] = []
    for t in found:
        if runs and not text[runs[-1][1]:t.start].strip():
            runs[-1] = (runs[-1][0], t.end)
        else:
            runs.append((t.start, t.end))
    return runs


def _snippet(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """A long description cut around its first match, with the runs moved to the cut text."""
    if len(text) <= SNIPPET:
        return text, spans
    start = max(0, spans[0][0] - SNIPPET // 3)
    start = text.rfind(" ", 0, start) + 1 if start else 0
    end = text.find(" ", min(len(text), start + SNIPPET))
    end = len(text) if end < 0 else end
    prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
    shift = len(prefix) - start
    kept = [(a + shift, b + shift) for a, b in spans if a >= start and b <= end]
    return prefix + text[start:end] + suffix, kept


# ---------------------------------------------------------------- one index per set of deployed versions

_indexes: dict[tuple[tuple[str, str], ...], SearchIndex] = {}
_lock = threading.Lock()
_KEPT = 8


def index_of(procedures: Sequence[Any]) -> SearchIndex:
    """The index of these procedures (each with its current version), built once per set of versions."""
    key = tuple((p.code, p.current_version.content_hash) for p in procedures)
    with _lock:
        found = _indexes.get(key)
    if found is not None:
        return found
    built = SearchIndex(Entry.of(p.code, p.name, p.current_version.manifest) for p in procedures)
    with _lock:
        if len(_indexes) >= _KEPT:
            _indexes.pop(next(iter(_indexes)))
        _indexes[key] = built
    return built


def is_code(text: str) -> bool:
    """Whether the search is (the start of) a procedure code: 1.001193, 2.0024 — found by code, not by words."""
    return bool(re.fullmatch(r"\d+(\.[0-9A-Za-z]*)*", text.strip()))
