"""advisor.formatting: the one count formatter (model headers in the index, app tables)."""

from __future__ import annotations

import pytest

from advisor.formatting import human_count


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1_230_000_000, "1.23B"),
        (7_000_000_000, "7B"),
        (110_000_000, "110M"),
        (66_400, "66.4K"),
        (1_000, "1K"),
        (950, "950"),
        (999_885_952, "1B"),  # google/gemma-3-1b-it: rounds up into the next unit
        (999_400_000, "999M"),
        (999_600, "1M"),
        (2_779_931_837_184, "2.78T"),
        (19_980_000_000_000_000, "19,980T"),
    ],
)
def test_human_count(n, text):
    assert human_count(n) == text


@pytest.mark.parametrize("n", [None, 0])
def test_human_count_empty(n):
    assert human_count(n) == ""
    assert human_count(n, empty="?") == "?"


def test_card_quality_cell_says_unknown_for_an_unread_card():
    from advisor.formatting import card_quality_cell

    assert card_quality_cell(0.754) == "75%"
    assert card_quality_cell(0.0, read=False) == "?"
