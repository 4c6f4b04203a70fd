"""Label maps of classification models: ``"LABEL_0" -> "negative"``.

:func:`extract_label_map` reads them from an ``id2label`` dict (``config.json`` or card
front matter) and from the ways cards state labels in prose ("LABEL_0: negative",
"| LABEL_1 | positive |", ``{'LABEL_0': 'positive'}``, "0 -> Negative" near the word
"label"). The app uses them to explain outputs such as ``LABEL_1``.

It does not parse card sections or front matter (:mod:`builder.cards` does) and reads no
files.
"""

from __future__ import annotations

import re
from typing import Any

MAX_LABEL_CHARS = 40  # longer "labels" are sentences, not class names
MAX_LABEL_WORDS = 3  # "very negative" is a label; "non-toxic in the output" is prose
_VALUE = r"[\"'`*]*([A-Za-z][\w .\-/&+]{0,39}?)[\"'`*]*"
_LABEL_SEP = re.compile(r"LABEL_(\d+)[\"'`*]*\s*(?:->|=>|→|:|=|means|corresponds to|is|-)\s*" + _VALUE
                        + r"\s*(?:[;,.)\n|]|$)", re.M)
_LABEL_TABLE = re.compile(r"\|\s*[`*]*LABEL_(\d+)[`*]*\s*\|\s*[`*]*([^|\n]{1,40}?)[`*]*\s*\|")
_NUM_LINE = re.compile(r"^\s*(?:[-*]\s*)?[\"']?(\d{1,2})[\"']?\s*(?:->|=>|→|:|=)\s*" + _VALUE
                       + r"\s*[;,.]?\s*$", re.M)
_ID2LABEL_DICT = re.compile(r"(?:id2label|label_?(?:map|index|dict|names)?)[\"']?\s*[:=]\s*\{([^{}]{1,2000})\}", re.I)
_DICT_PAIR = re.compile(r"[\"']?(LABEL_\d+|\d+)[\"']?\s*:\s*[\"']([^\"'\n]{1,40})[\"']")
LABEL_CONTEXT_CHARS = 300  # "0 -> Negative" lines count only this close after "label"


def _label_key(k: Any) -> str | None:
    s = str(k).strip()
    if re.fullmatch(r"\d+", s):
        return f"LABEL_{int(s)}"
    if re.fullmatch(r"LABEL_\d+", s):
        return s
    return None


def _clean_value(v: Any) -> str | None:
    s = str(v).strip().strip("\"'`*:;,.").strip()
    if (not s or len(s) > MAX_LABEL_CHARS or len(s.split()) > MAX_LABEL_WORDS
            or re.fullmatch(r"LABEL_\d+|[\d.]+", s)):
        return None
    if s.lower() in {"score", "label", "the", "a", "is"}:
        return None
    return s


def _find_id2label(obj: Any, depth: int = 0) -> dict | None:
    if depth > 4:
        return None
    if isinstance(obj, dict):
        for key in ("id2label", "id_to_label"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        for v in obj.values():
            if (found := _find_id2label(v, depth + 1)) is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            if (found := _find_id2label(v, depth + 1)) is not None:
                return found
    return None


def extract_label_map(card_md: str, config: dict | None) -> dict[str, str]:
    """``{"LABEL_0": "negative", ...}`` from an ``id2label`` dict and the card text.

    ``config`` may be a ``config.json`` dict or the card's front matter; its ``id2label``
    wins over text. Numeric keys become ``LABEL_<n>``; entries that map a label to itself
    (``LABEL_0 -> LABEL_0``) are dropped. Text patterns, in order: ``LABEL_n: name``
    (also ``->``, ``=``, ``|`` tables), dict literals such as ``{'LABEL_0': 'positive'}``
    or ``id2label = {0: "neg"}``, and runs of at least two numbered lines ``0 -> Negative``
    within :data:`LABEL_CONTEXT_CHARS` after the word "label".
    """
    out: dict[str, str] = {}

    def add(k: Any, v: Any) -> None:
        key, val = _label_key(k), _clean_value(v)
        if key and val and key not in out and val != key:
            out[key] = val

    found = _find_id2label(config) if config else None
    if found:
        for k, v in found.items():
            add(k, v)
        if out:
            return dict(sorted(out.items(), key=lambda kv: int(kv[0][6:])))
    text = card_md or ""
    if "label" not in text.lower() and "LABEL_" not in text:
        return {}
    for m in _LABEL_TABLE.finditer(text):
        add(m.group(1), m.group(2))
    for m in _LABEL_SEP.finditer(text):
        add(m.group(1), m.group(2))
    for m in _ID2LABEL_DICT.finditer(text):
        for p in _DICT_PAIR.finditer(m.group(1)):
            add(p.group(1), p.group(2))
    if not out:
        lower = text.lower()
        run: list[tuple[int, str, int]] = []
        for m in _NUM_LINE.finditer(text):
            if run and (int(m.group(1)) != run[-1][0] + 1 or m.start() - run[-1][2] > 80):
                if len(run) >= 2:
                    break
                run = []
            if not run and "label" not in lower[max(0, m.start() - LABEL_CONTEXT_CHARS):m.start()]:
                continue
            run.append((int(m.group(1)), m.group(2), m.end()))
        if len(run) >= 2:
            for k, v, _ in run:
                add(k, v)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][6:])))
