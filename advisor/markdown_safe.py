"""Retrieved text made inert for a markdown answer: one line, no HTML, links, images or
emphasis, table cells that cannot break their row.

Cards, codes and known-issue texts are data, not markup. :func:`safe_text` and
:func:`table_cell` are the one place that escapes them; the answer's sections
(:mod:`advisor.compose`, :mod:`advisor.fix_sections`) write through them. This module does
not write sections or code fences (:mod:`advisor.codefence` does).
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
    s = " ".join(str(text or "").split())
    s = _MD_IMAGE.sub(r"\1", s)
    s = _MD_LINK.sub(r"\1", s)
    s = _MD_REF_LINK.sub(r"\1", s)
    s = _AUTOLINK.sub(r"\1", s)
    if len(s) > max_chars:
        s = s[: max_chars - 1].rstrip() + "…"
    s = html.escape(s, quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def table_cell(text: Any, max_chars: int = DEFAULT_CELL_CHARS) -> str:
    """Like :func:`safe_text` for a table cell (pipes and newlines can't break the row)."""
    return safe_text(text, max_chars).replace("\n", " ") or "–"
