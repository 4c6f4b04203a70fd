"""Read the 2026 trending-models metadata (``hub_models_2026.jsonl.gz``, no card text).

Each row becomes ``(ModelInfo(source="2026"), Document(kind="model2026"))`` whose text is
the short metadata header (task, licence, size, downloads, likes, formats, base model).
The dataset's own ``license_family``, ``parameters``, ``formats``, ``gated`` and
``base_model`` are taken as given (a placeholder base such as "None" reads as none);
languages are its ``languages`` plus the ISO codes among its tags. Rows marked ``removed`` (the repo was deleted from the
Hub) are skipped with the counted reason ``removed``: recommending a model that no longer
exists would send a beginner to a 404. Lines with broken JSON / invalid UTF-8 or no
``id`` are counted skips as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from advisor.types import Document, ModelInfo
from builder.documents import model_document
from builder.report import QuietReport, SourceReport, iter_jsonl_gz
from builder.sources.metadata import (
    base_model_from,
    iter_model_rows,
    languages_from,
    license_family,
)
from builder.sources.quick import candidates, describe_2026, select_rows

log = logging.getLogger(__name__)

HUB2026_FILE = "hub_models_2026.jsonl.gz"


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def _languages(row: dict[str, Any]) -> list[str]:
    """The row's ``languages`` and the ISO codes among its tags, as the 2022 cards and the
    live Hub rows are read: 586 rows list no language but carry one as a tag
    (sentence-transformers/all-MiniLM-L6-v2: ``en``), so they read as "not stated"."""
    out = [str(x) for x in row.get("languages") or [] if x]
    tags = [t for t in row.get("tags") or [] if isinstance(t, str)]
    return out + [x for x in languages_from(tags) if x not in out]


def model2026_from_row(row: dict[str, Any]) -> tuple[ModelInfo, Document]:
    lic = row.get("license") or None
    info = ModelInfo(
        id=str(row["id"]).strip(),
        source="2026",
        pipeline_tag=row.get("pipeline_tag") or None,
        library=row.get("library") or None,
        languages=_languages(row),
        license=lic,
        license_family=row.get("license_family") or license_family(lic),
        downloads=_int_or_none(row.get("downloads_30d")) or 0,
        likes=_int_or_none(row.get("likes")) or 0,
        parameters=_int_or_none(row.get("parameters")),
        formats=[str(x) for x in row.get("formats") or []],
        gated=bool(row.get("gated")),
        base_model=base_model_from(row.get("base_model")),
        tags=[t for t in row.get("tags") or [] if isinstance(t, str)],
        last_modified=row.get("updated_at") or row.get("created_at"),
    )
    doc = model_document(info, None, kind="model2026")
    extra = [
        f"Formats: {', '.join(info.formats)}." if info.formats else "",
        f"Fine-tuned from {info.base_model}." if info.base_model else "",
        "Gated: accept the licence on the model page before downloading." if info.gated else "",
        "Downloads are for the last 30 days (2026).",
    ]
    doc.text = doc.text + "\n" + " ".join(e for e in extra if e)
    doc.metadata["trending_score"] = _int_or_none(row.get("trending_score"))
    return info, doc


def read_hub2026(path: Path, report: SourceReport, limit: int | None = None) -> Iterator[tuple[ModelInfo, Document]]:
    """Yield (ModelInfo, Document) per live row, in file order.

    With ``limit``, only the ``limit`` most useful live rows (:mod:`builder.sources.quick`:
    most downloaded per pipeline tag and language); the other live rows are counted as
    skipped with reason ``quick_slice``.
    """
    if limit is not None and limit <= 0:
        return
    wanted = None
    if limit is not None:
        rows = iter_model_rows(iter_jsonl_gz(Path(path), QuietReport(report.name)), QuietReport(""))
        wanted = select_rows(candidates(rows, describe_2026, keep=lambda r: not r.get("removed")),
                             limit)
    for i, row in enumerate(iter_model_rows(iter_jsonl_gz(Path(path), report), report)):
        if row.get("removed"):
            report.skip("removed", row["id"])
            continue
        if wanted is not None and i not in wanted:
            report.skipped += 1
            report.reasons["quick_slice"] += 1
            continue
        try:
            pair = model2026_from_row(row)
        except Exception as e:  # noqa: BLE001 - one odd row must not stop a build
            report.skip("bad_row", f"{row.get('id')}: {type(e).__name__}: {e}")
            continue
        report.kept += 1
        yield pair
