"""How a category's evidence items are worded, and read back.

:class:`advisor.classifier.TaxonomyClassifier` explains a category with evidence items:
the question's deciding words (:func:`words_item`) and the nearest labelled posts with
that label (:func:`post_item`). The composer (:mod:`advisor.compose`) reads a post item
back (:func:`read_post_item`) to cite the post instead of quoting it, and
:mod:`advisor.eval` removes the quoted words (:func:`without_words_items`) before
counting key points. This module does not choose the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WORDS_EVIDENCE = "the words "  # starts the item that names the question's deciding words
LABELLED_EVIDENCE = "a similar labelled question, "  # starts an item that names a post
_WORDS_ITEMS = re.compile(re.escape(WORDS_EVIDENCE) + r'"[^"]*"(?:, "[^"]*")*')
_POST_ITEM = re.compile(re.escape(LABELLED_EVIDENCE)
                        + r'"(?P<snippet>.*)"(?: \((?P<url>[^()\s]+)\))?', re.S)


def words_item(words: Sequence[str]) -> str:
    """The item naming the question's deciding words."""
    return WORDS_EVIDENCE + ", ".join(f'"{w}"' for w in words)


def without_words_items(text: str) -> str:
    """``text`` without any words item it quotes (the asker's words, not advice)."""
    return _WORDS_ITEMS.sub("", text)


def post_item(snippet: str, url: str = "") -> str:
    """The item naming a labelled post: its first words and its URL when it has one."""
    return f'{LABELLED_EVIDENCE}"{snippet}" ({url})' if url else f'{LABELLED_EVIDENCE}"{snippet}"'


def read_post_item(item: str) -> tuple[str, str] | None:
    """``(snippet, url)`` of an item that names a labelled post (``url`` may be empty),
    None for any other item."""
    m = _POST_ITEM.fullmatch(item)
    return (m["snippet"], m["url"] or "") if m else None
