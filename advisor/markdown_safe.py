"""Retrieved text made inert for a markdown answer: one line, no HTML, links, images or
emphasis, table cells that cannot break their row.

Cards, codes and known-issue texts are data, not markup. :func:`safe_text` and
:func:`table_cell` are the one place that escapes them; the answer's sections
(:mod:`advisor.compose`, :mod:`advisor.fix_sections`) write through them. The knowledge
base's own prose goes through :func:`safe_prose`, which escapes it the same way but shows
its code words (``max_new_tokens``, ``generate(...)``, ``--usage-stats=off``) as inline code
rather than as escaped text (``max\\_new\\_tokens``); :func:`inline_code` shows a piece of
the user's own text literally. This module does not write sections or code fences
(:mod:`advisor.codefence` does).
"""

from __future__ import annotations

import html
import re
from typing import Any

DEFAULT_SNIPPET_CHARS = 220  # per quoted piece of retrieved text
DEFAULT_CELL_CHARS = 80  # per table cell

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
# A link's "[" never follows a name, a closing bracket or a quote: there it is code
# indexing (out[0][ids["input_ids"]], f[0](x)), which must stay as written.
_CODE_BEFORE = r"(?<![\w\])'\"])"
_MD_LINK = re.compile(_CODE_BEFORE + r"\[([^\]]*)\]\([^)]*\)")
_MD_REF_LINK = re.compile(_CODE_BEFORE + r"\[([^\]]*)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(https?://[^>]*)>")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#+!|~>])")


def safe_text(text: Any, max_chars: int = DEFAULT_SNIPPET_CHARS) -> str:
    """Retrieved text -> one inert markdown line: no HTML, links, images or emphasis."""
    return _escape(_one_line(text, max_chars))


def _one_line(text: Any, max_chars: int) -> str:
    """``text`` on one line, links and images reduced to their text, cut at ``max_chars``."""
    s = " ".join(str(text or "").split())
    s = _MD_IMAGE.sub(r"\1", s)
    s = _MD_LINK.sub(r"\1", s)
    s = _MD_REF_LINK.sub(r"\1", s)
    s = _AUTOLINK.sub(r"\1", s)
    return _cut(s, max_chars)


def _cut(s: str, max_chars: int) -> str:
    """``s`` cut to ``max_chars``, an ellipsis marking the cut."""
    return s[: max_chars - 1].rstrip() + "…" if len(s) > max_chars else s


# A word of our own prose that is code: a name with an underscore (max_new_tokens,
# HF_TOKEN), a call or subscript (generate(), out[0]), an option (--usage-stats=off), a
# keyword argument (padding_side='left') or a dotted path (transformers.utils.logging).
_CODE_WORD = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|\w[(\[]|^--[A-Za-z]|\w=\S"
                        r"|^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){2,}$")
_PLURAL = re.compile(r"^\w+\((?:e?s)\)$")  # "model(s)" is a word, not a call
_SPLIT_WORD = re.compile(r"^([(\"']*)(.*?)([,.;:!?\"')]*)$", re.S)
_CODE_SPAN = re.compile(r"(`[^`]+`)")


def _escape(s: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", html.escape(s, quote=False))


def _prose_word(word: str) -> str:
    """One space-free word of our prose: inline code when it is code, else escaped."""
    lead, core, trail = _SPLIT_WORD.match(word).groups()
    for open_, close in (("(", ")"), ("'", "'"), ('"', '"')):  # "f(x))." -> f(x) + ")."
        while close in trail and (core.count(open_) > core.count(close) if open_ != close
                                  else core.count(open_) % 2):
            i = trail.index(close) + 1
            core, trail = core + trail[:i], trail[i:]
    if (_CODE_WORD.search(core) and not _PLURAL.match(core) and "://" not in core
            and not any(c in core for c in "`<>")):
        return f"{_escape(lead)}`{core}`{_escape(trail)}"
    return _escape(word)


def safe_prose(text: Any, max_chars: int = DEFAULT_SNIPPET_CHARS) -> str:
    """Our own prose (the knowledge base's) -> one inert markdown line like
    :func:`safe_text`, whose code words and `backticked` spans are inline code."""
    s = _one_line(text, max_chars)
    out = []
    for part in _CODE_SPAN.split(s):
        if _CODE_SPAN.fullmatch(part) and not any(c in part for c in "<>"):
            out.append(part)
        else:
            out.append(" ".join(_prose_word(w) for w in part.split(" ")))  # one line: single spaces
    return "".join(out)


def inline_code(text: Any, max_chars: int = DEFAULT_SNIPPET_CHARS) -> str:
    """``text`` (one line) as an inline code span, shown as written: a markdown renderer
    escapes a span's content, so nothing in it is markup; a fence longer than any run of
    backticks inside keeps the span whole."""
    s = _cut(" ".join(str(text or "").split()), max_chars)
    if not s:
        return ""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def table_cell(text: Any, max_chars: int = DEFAULT_CELL_CHARS) -> str:
    """Like :func:`safe_text` for a table cell (pipes and newlines can't break the row)."""
    return safe_text(text, max_chars).replace("\n", " ") or "–"
