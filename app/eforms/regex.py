"""The regular expressions a form schema brings (`pattern`, `patternProperties`, `format: regex` values), run by
RE2, whose matching time grows linearly with the text.

Python's own engine backtracks: a designer's `^(a+)+$` against forty "a"s and a "!" runs for days, so a
pattern is never handed to `re`. RE2 has no backreferences and no lookaround (exactly what makes backtracking
necessary); a form that uses them is refused at upload with the reason, and a pattern is bounded in length.

JSON Schema patterns are ECMA-262 regular expressions. RE2 agrees with it where Python does not (`$` is the end
of the text, not "before a final newline"; `\\d` and `\\w` are ASCII), and ECMA's `\\uXXXX` / `\\u{X…}` escapes
are read as RE2's `\\x{…}`.
"""

from __future__ import annotations

import functools
import logging
import re

import re2
from flask_babel import gettext

__all__ = ["MAX_PATTERN_LENGTH", "pattern_problem", "search"]

MAX_PATTERN_LENGTH = 1000

_log = logging.getLogger(__name__)
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the designer, not written to stderr
# An escaped backslash, or an ECMA-262 unicode escape; scanned left to right so `\\u0041` stays a backslash + "u".
_ECMA_ESCAPE = re.compile(r"\\\\|\\u\{([0-9A-Fa-f]{1,6})\}|\\u([0-9A-Fa-f]{4})")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _to_re2(pattern: str) -> str:
    def swap(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        return match.group(0) if code is None else "\\x{" + code + "}"

    return _ECMA_ESCAPE.sub(swap, pattern)


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(_to_re2(pattern), _OPTIONS)


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _shown(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 80 else pattern[:80] + "…")


def pattern_problem(pattern: object) -> str | None:
    """Why a form may not carry this regular expression (a Vietnamese sentence for the designer), or None."""
    if not isinstance(pattern, str):
        return None
    if len(pattern) > MAX_PATTERN_LENGTH:
        return gettext("Biểu thức chính quy quá dài (%(length)s ký tự, tối đa %(limit)s); hãy rút gọn.",
                       length=len(pattern), limit=MAX_PATTERN_LENGTH)
    try:
        _compiled(pattern)
    except re2.error as exc:
        reason = _reason(exc)
        if re.search(r"invalid escape sequence: \\([1-9]|k)", reason):
            return gettext("Biểu thức chính quy %(pattern)s dùng tham chiếu ngược (\\1, \\k<tên>); biểu mẫu không hỗ "
                           "trợ cách viết này vì nó có thể khiến việc kiểm tra chạy rất lâu. Hãy viết lại mà không "
                           "dùng tham chiếu ngược.", pattern=_shown(pattern))
        if re.search(r"invalid perl operator: \(\?<?[=!]", reason):
            return gettext("Biểu thức chính quy %(pattern)s dùng phép nhìn trước hoặc nhìn sau ((?=…), (?!…), (?<=…), "
                           "(?<!…)); biểu mẫu không hỗ trợ cách viết này. Hãy viết lại, ví dụ tách thành nhiều điều "
                           "kiện bằng “allOf”.", pattern=_shown(pattern))
        if "repetition" in reason or "too large" in reason:
            return gettext("Biểu thức chính quy %(pattern)s có số lần lặp quá lớn (tối đa 1000); hãy rút gọn.",
                           pattern=_shown(pattern))
        return gettext("Biểu thức chính quy %(instance)s không hợp lệ.", instance=_shown(pattern))
    return None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` occurs in `text` (JSON Schema's unanchored match), in time linear in the text.

    A pattern RE2 cannot run could only come from a form deployed before such patterns were refused at upload;
    it is not enforced (and logged) rather than matched by a backtracking engine."""
    try:
        compiled = _compiled(pattern)
    except re2.error as exc:
        _log.warning("form pattern %r not enforced: %s", pattern[:200], _reason(exc))
        return True
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800") has no UTF-8 form
        return compiled.search(_SURROGATE.sub("\ufffd", text)) is not None
