"""Number formatting shared by the builder and the app (one of each helper, issue 11).

:func:`human_count` writes a count, such as a model's parameters, with 3 significant
digits and a K/M/B suffix. The builder writes it into every model's header text, so a
change to its output changes the indexed text (and re-embeds those chunks on the next
build). It does not parse sizes (``advisor.validate`` does) and knows no markdown.
"""

from __future__ import annotations

_UNITS = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3))


def human_count(n: int | float | None, empty: str = "") -> str:
    """``1_230_000_000`` -> ``"1.23B"``, ``110_000_000`` -> ``"110M"``, ``66_400`` ->
    ``"66.4K"``, ``950`` -> ``"950"``; ``None`` or 0 -> ``empty`` (a table may pass "?").

    A count that rounds up to the next unit takes it (``999_885_952`` -> ``"1B"``, not
    ``"1e+03M"``); trillions are ``T``, written out past 999 (``"19,980T"``)."""
    if not n:
        return empty
    for unit, size in _UNITS:
        x = n / size
        digits = f"{x:.3g}"
        if float(digits) >= 1:
            return (f"{x:,.0f}" if float(digits) >= 1000 else digits) + unit
    return str(n)


def card_quality_cell(quality: float, read: bool = True) -> str:
    """A model card's quality as a table shows it: ``"75%"``, or ``"?"`` when the card's
    text was not read (a 2026 record: the snapshot holds metadata only)."""
    return f"{quality:.0%}" if read else "?"
