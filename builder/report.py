"""Per-source bookkeeping: how many rows were read, kept and skipped, and why.

Every reader in :mod:`builder.sources` takes a :class:`SourceReport` and records each
bad row through :meth:`SourceReport.skip` (a counted reason plus a logged warning with the
line number), so a broken row is never fatal and never silently dropped. The report also
carries the sha256 of the source file(s); the store writes it into ``manifest.json``.

This module also holds the small readers every source shares: :func:`file_sha256`,
:func:`iter_jsonl_gz` (robust gzip JSONL: invalid UTF-8 or broken JSON on one line is a
counted skip) and :func:`iter_csv_rows` (the named columns of a CSV file's non-blank
rows). It does not interpret rows; the sources do.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.corpus import require_corpus_path

log = logging.getLogger(__name__)

DEFAULT_HASH_BLOCK = 1 << 20  # 1 MiB reads: hashing the 7 MB card file takes ~20 ms
MAX_DETAIL_CHARS = 200  # a warning quotes at most this much of a bad row
MAX_WARNINGS_PER_REASON = 5  # then DEBUG only: 748 "removed" rows need one summary, not 748 lines


@dataclass
class SourceReport:
    """Counts for one source (``name`` is the manifest key, e.g. ``"cards2022"``).

    ``read`` counts rows seen, ``kept`` rows turned into records, ``skipped`` rows
    dropped, with ``reasons`` (reason -> count). ``sha256`` is the hex digest of the
    source file, or of the sorted ``name:digest`` list when a source has several files.
    """

    name: str
    read: int = 0
    kept: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)
    sha256: str = ""
    line: int | None = None  # current line number, quoted in skip warnings

    def skip(self, reason: str, detail: str = "") -> None:
        """Count one dropped row under ``reason`` and log a warning with its line.

        Only the first :data:`MAX_WARNINGS_PER_REASON` rows of each reason are warnings;
        :meth:`summary` gives the totals.
        """
        self.skipped += 1
        self.reasons[reason] += 1
        where = f" line {self.line}" if self.line is not None else ""
        detail = detail[:MAX_DETAIL_CHARS]
        n = self.reasons[reason]
        level = logging.WARNING if n <= MAX_WARNINGS_PER_REASON else logging.DEBUG
        more = " (further rows with this reason are logged at DEBUG)" if n == MAX_WARNINGS_PER_REASON else ""
        log.log(level, "%s%s: skipped (%s)%s%s", self.name, where, reason,
                f": {detail}" if detail else "", more)

    def add_files(self, *paths: Path) -> None:
        """Set ``sha256`` from the given files (one file: its digest)."""
        digests = sorted(f"{p.name}:{file_sha256(p)}" for p in paths)
        if len(digests) == 1:
            self.sha256 = digests[0].split(":", 1)[1]
        else:
            self.sha256 = hashlib.sha256("\n".join(digests).encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        """The manifest's ``sources[name]`` entry."""
        return {
            "read": self.read,
            "kept": self.kept,
            "skipped": self.skipped,
            "reasons": dict(sorted(self.reasons.items())),
            "sha256": self.sha256,
        }

    def summary(self) -> str:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in self.reasons.most_common())
        return (
            f"{self.name}: read {self.read:,}, kept {self.kept:,}, skipped {self.skipped:,}"
            + (f" ({reasons})" if reasons else "")
        )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(DEFAULT_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def iter_jsonl_gz(path: Path, report: SourceReport) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a gzip (or plain) JSONL file.

    Sets ``report.line`` (1-based) and counts ``read`` for every non-blank line. A line
    with invalid UTF-8, broken JSON or a non-object value is a counted skip. A truncated
    gzip stream ends the file with one ``truncated_file`` skip instead of an exception.
    Also sets ``report.sha256`` from the file.
    """
    require_corpus_path(path)
    report.add_files(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        lineno = 0
        while True:
            try:
                raw = f.readline()
            except (EOFError, OSError, zlib.error) as e:
                report.line = lineno + 1
                report.read += 1
                report.skip("truncated_file", f"{type(e).__name__}: {e}")
                return
            if not raw:
                return
            lineno += 1
            report.line = lineno
            if not raw.strip():
                continue
            report.read += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                report.skip("invalid_utf8", str(e))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                report.skip("broken_json", str(e))
                continue
            if not isinstance(obj, dict):
                report.skip("not_an_object", type(obj).__name__)
                continue
            yield obj


def iter_csv_rows(path: Path, report: SourceReport, columns: Sequence[str],
                  what: str) -> Iterator[list[str]]:
    """Yield the cells of ``columns`` of each non-blank row of a CSV file, in that order.

    ``columns`` are header names, matched case-insensitively; a short row's missing
    cells are ``""``. Sets ``report.line`` (the header is line 1) and counts ``read`` for
    every non-blank row. A header without one of ``columns`` raises ``ValueError`` naming
    the file, the header found and ``what`` the file should be.
    """
    with open(require_corpus_path(path), encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in columns if c.lower() not in header]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(missing)} ({header}); "
                             f"is this {what}?")
        at = [header.index(c.lower()) for c in columns]
        for lineno, row in enumerate(reader, start=2):
            report.line = lineno
            if not any(c.strip() for c in row):
                continue
            report.read += 1
            yield [row[i] if i < len(row) else "" for i in at]


class QuietReport(SourceReport):
    """A report that counts without logging: for a pre-pass over rows that the real
    pass (with the real report) reads again and reports once."""

    def skip(self, reason: str, detail: str = "") -> None:
        self.skipped += 1
        self.reasons[reason] += 1
