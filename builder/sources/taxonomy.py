"""Read the study's codebook into :class:`TaxonomyEntry` records.

Sources: ``replication/codebook_challenges.csv`` and ``codebook_benefits.csv`` (one row
per subcategory; the category cell is filled only on a category's first row, so it is
carried down; a category without subcategories has ``subcategory=""``) and the sheet
``Overview`` of ``replication/codebook.xlsx`` (codes per category: challenges first, then
after a ``Category | #`` header row, benefits). Counts are per category, so every entry of
a category carries the category's count.

Overview names differ slightly from the CSVs ("Expert Opinion and Solutions" vs
"Expert Opinion and Clarification"); challenge names go through
:func:`advisor.taxonomy.canonical_category`, benefit names are matched by normalised
name, then by first word. This module does not build documents
(:mod:`builder.documents` does).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from advisor.corpus import require_corpus_path
from advisor.taxonomy import canonical_category
from advisor.types import TaxonomyEntry
from builder.report import SourceReport, iter_csv_rows

log = logging.getLogger(__name__)

CHALLENGES_CSV = "replication/codebook_challenges.csv"
BENEFITS_CSV = "replication/codebook_benefits.csv"
CODEBOOK_XLSX = "replication/codebook.xlsx"
OVERVIEW_SHEET = "Overview"
_TOPIC_REF = re.compile(r"^\s*T(\d+)\s*:")


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("&", "and").split())


def example_topic(example: str) -> int | None:
    """``'T639: "I recently..."'`` -> 639; ``None`` when the quote names no thread."""
    m = _TOPIC_REF.match(example or "")
    return int(m.group(1)) if m else None


def _clean_example(example: str) -> str:
    """Drop the ``T639:`` prefix and the surrounding quotes of a codebook example."""
    text = _TOPIC_REF.sub("", example or "", count=1).strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    return text.lstrip('"').strip()


def read_overview_counts(path: Path, report: SourceReport) -> tuple[dict[str, int], dict[str, int]]:
    """(challenge counts, benefit counts) by the sheet's own names."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - a broken workbook only loses the counts
        report.skip("overview_unreadable", f"{type(e).__name__}: {e}")
        return {}, {}
    if OVERVIEW_SHEET not in wb.sheetnames:
        report.skip("overview_missing", f"sheets: {wb.sheetnames}")
        return {}, {}
    challenges: dict[str, int] = {}
    benefits: dict[str, int] = {}
    target = challenges
    for row in wb[OVERVIEW_SHEET].iter_rows(values_only=True):
        name, count = (list(row) + [None, None])[:2]
        if isinstance(name, str) and name.strip().lower() == "category":
            target = benefits  # the second table's header
            continue
        if isinstance(name, str) and name.strip() and isinstance(count, int | float):
            target[name.strip()] = int(count)
    wb.close()
    return challenges, benefits


def _match_count(category: str, kind: str, counts: dict[str, int]) -> int | None:
    if kind == "challenge":
        by_canon = {canonical_category(k): v for k, v in counts.items()}
        if category in by_canon:
            return by_canon[category]
    by_norm = {_norm(k): v for k, v in counts.items()}
    if _norm(category) in by_norm:
        return by_norm[_norm(category)]
    first = _norm(category).split(" ")[0]
    same_first = [v for k, v in by_norm.items() if k.split(" ")[0] == first]
    return same_first[0] if len(same_first) == 1 else None


def _read_codebook_csv(path: Path, kind: str, report: SourceReport) -> list[TaxonomyEntry]:
    entries: list[TaxonomyEntry] = []
    category = ""
    columns = ("Category", "Subcategory", "Definition", "Example")
    for cells in iter_csv_rows(path, report, columns, "the study's codebook CSV"):
        cat, sub, definition, example = cells
        if cat.strip():
            category = " ".join(cat.split())
        if not category:
            report.skip("no_category", ",".join(cells)[:80])
            continue
        definition = definition.strip()
        if not definition:
            report.skip("no_definition", f"{category} / {sub}")
            continue
        entries.append(
            TaxonomyEntry(
                kind=kind,  # type: ignore[arg-type]
                category=category,
                subcategory=" ".join(sub.split()),
                definition=definition,
                example=_clean_example(example),
                example_topic=example_topic(example),
                count=None,
            )
        )
        report.kept += 1
    return entries


def read_taxonomy(corpus_dir: Path, report: SourceReport) -> list[TaxonomyEntry]:
    """All challenge and benefit entries, in codebook order, with Overview counts."""
    corpus_dir = Path(corpus_dir)
    paths = [corpus_dir / CHALLENGES_CSV, corpus_dir / BENEFITS_CSV]
    xlsx = corpus_dir / CODEBOOK_XLSX
    report.add_files(*[require_corpus_path(p) for p in paths], *([xlsx] if xlsx.is_file() else []))
    entries = _read_codebook_csv(paths[0], "challenge", report)
    entries += _read_codebook_csv(paths[1], "benefit", report)
    report.line = None
    if xlsx.is_file():
        ch_counts, be_counts = read_overview_counts(xlsx, report)
    else:
        log.warning("%s not found: taxonomy entries carry no counts", xlsx)
        ch_counts, be_counts = {}, {}
    unmatched = set()
    for e in entries:
        e.count = _match_count(e.category, e.kind, ch_counts if e.kind == "challenge" else be_counts)
        if e.count is None and (ch_counts or be_counts):
            unmatched.add(e.category)
    for name in sorted(unmatched):
        log.warning("taxonomy: no Overview count for category %r", name)
    return entries
