"""Read the Feb 2022 model-card snapshot (``model_cards_2022.jsonl.gz``).

Each JSON line becomes ``(ModelInfo(source="2022"), Document(kind="model"))``. Rows are
kept even without a card (the scrape writes "Error: the path 'README.md' does not exist
..." then): their metadata still serves filters and their header is still retrievable;
``card_chars`` is 0 and the document has no sections. Skipped (counted, logged): lines
with invalid UTF-8 or broken JSON, rows without an ``id``. Broken YAML front matter is
counted as ``broken_front_matter`` but the row is kept.

This module does not chunk or embed; :mod:`builder.chunk` and :mod:`builder.embed` do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from advisor.types import Document, ModelInfo
from builder.cards import card_facts, is_missing_card, parse_front_matter
from builder.documents import model_document
from builder.report import QuietReport, SourceReport, iter_jsonl_gz
from builder.sources.metadata import (
    formats_from_files,
    iter_model_rows,
    languages_from,
    license_family,
    license_from,
)
from builder.sources.quick import candidates, describe_2022, select_rows

log = logging.getLogger(__name__)

CARDS_FILE = "model_cards_2022.jsonl.gz"


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def _str_or_none(*values: Any) -> str | None:
    """First non-empty string among ``values``; front matter may hold lists or numbers."""
    for v in values:
        if isinstance(v, str) and v.strip() and v.strip() != "None":
            return v.strip()
    return None


def model_from_row(row: dict[str, Any], report: SourceReport) -> tuple[ModelInfo, Document]:
    """One snapshot row -> (ModelInfo, Document); counts broken front matter."""
    card = row.get("card") if isinstance(row.get("card"), str) else ""
    fm = parse_front_matter(card) if not is_missing_card(card) else None
    if fm is not None and fm.broken:
        report.reasons["broken_front_matter"] += 1  # counted, row kept
    front = fm.data if fm else {}
    tags = [t for t in row.get("tags") or [] if isinstance(t, str)]
    lic = license_from(tags, front)
    info = ModelInfo(
        id=str(row["id"]).strip(),
        source="2022",
        pipeline_tag=_str_or_none(row.get("pipeline_tag"), front.get("pipeline_tag")),
        library=_str_or_none(row.get("library_name"), front.get("library_name")),
        languages=languages_from(tags, front),
        license=lic,
        license_family=license_family(lic),
        downloads=_int(row.get("downloads")),
        likes=_int(row.get("likes")),
        formats=formats_from_files(row.get("files") or []),
        tags=tags,
        last_modified=row.get("last_modified"),
    )
    card_facts(info, card, front)
    return info, model_document(info, card, kind="model")


def read_cards(path: Path, report: SourceReport, limit: int | None = None) -> Iterator[tuple[ModelInfo, Document]]:
    """Yield (ModelInfo, Document) per valid row, in file order.

    With ``limit``, only the ``limit`` most useful rows (:mod:`builder.sources.quick`:
    most downloaded, best-carded, per pipeline tag and language); the others are
    counted as skipped with reason ``quick_slice``.
    """
    if limit is not None and limit <= 0:
        return
    wanted = None
    if limit is not None:
        rows = iter_model_rows(iter_jsonl_gz(Path(path), QuietReport(report.name)), QuietReport(""))
        wanted = select_rows(candidates(rows, describe_2022), limit)
    for i, row in enumerate(iter_model_rows(iter_jsonl_gz(Path(path), report), report)):
        if wanted is not None and i not in wanted:
            report.skipped += 1
            report.reasons["quick_slice"] += 1
            continue
        try:
            pair = model_from_row(row, report)
        except Exception as e:  # noqa: BLE001 - one odd row must not stop a build
            report.skip("bad_row", f"{row.get('id')}: {type(e).__name__}: {e}")
            continue
        if pair[0].card_chars == 0:
            report.reasons["no_card"] += 1  # kept: metadata only
        report.kept += 1
        yield pair
