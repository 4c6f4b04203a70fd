"""Parsed model records of a corpus file, kept between builds.

Parsing the 2022 cards (YAML front matter, sections, card quality, label maps) and the
2026 records was most of a no-change rebuild (~12 of ~32 s on 2 cores). :func:`read_cached`
runs a source reader once per *parse key* and keeps its output, the ``(ModelInfo,
Document)`` pairs and the :class:`SourceReport` counts, in
``<cfg.cache_dir>/parsed/<source>-<key>.pickle``. The key (:func:`parse_key`) is the
sha256 of the file's bytes, the ``limit`` and the parser version: the source of every
module that decides what a record holds (:data:`PARSER_MODULES`), so an edited parser or
a changed file is parsed anew, never served stale.

A hit logs one line and skips the per-row warnings the first parse logged (their counts
are in the report). A missing, unreadable or foreign cache file only means parsing again;
at most :data:`KEEP_PER_SOURCE` files per source are kept (a quick ``--limit`` build and a
full build each keep theirs). The files are pickles written by this user's own builds
into their own cache directory, like the ONNX export cache beside them; delete the
folder at any time.

This module does not parse anything itself and knows no source format; the live Hub
source (no file to digest) is not cached.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import inspect
import logging
import os
import pickle
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from advisor.types import Document, ModelInfo
from builder.report import SourceReport, file_sha256

log = logging.getLogger(__name__)

PARSED_DIR = "parsed"  # under cfg.cache_dir, beside the ONNX export cache
KEEP_PER_SOURCE = 3  # a quick build's and a full build's records, plus one older
# Everything that shapes a model record or its document (types, header formatting,
# card parsing, metadata, the readers themselves): a change to any of them is a new key.
PARSER_MODULES = (
    "advisor.types",
    "advisor.formatting",
    "builder.report",
    "builder.cards",
    "builder.labelmap",
    "builder.documents",
    "builder.sources.metadata",
    "builder.sources.quick",
    "builder.sources.cards2022",
    "builder.sources.hub2026",
)
_FORMAT = "parsed-records v1"

Pair = tuple[ModelInfo, Document]


@lru_cache(maxsize=1)
def parser_version() -> str:
    """sha256 over the source of :data:`PARSER_MODULES` (and this cache's format)."""
    h = hashlib.sha256(_FORMAT.encode())
    for name in PARSER_MODULES:
        h.update(name.encode())
        h.update(inspect.getsource(importlib.import_module(name)).encode())
    return h.hexdigest()


def parse_key(path: Path, limit: int | None) -> str:
    """The key of ``path``'s parsed records: file bytes, ``limit``, parser version."""
    return hashlib.sha256(
        f"{file_sha256(Path(path))}|{limit}|{parser_version()}".encode()
    ).hexdigest()


def read_cached(
    name: str,
    path: Path,
    limit: int | None,
    cache_dir: Path,
    read: Callable[[SourceReport], Iterable[Pair]],
) -> tuple[list[Pair], SourceReport]:
    """``(pairs, report)`` of ``read(SourceReport(name))``, from the cache when the key
    matches; otherwise read, then stored for the next build.

    Args:
        name: the source's manifest name (``"cards2022"``), also the file's prefix.
        path: the corpus file ``read`` parses (digested for the key; must exist).
        limit: the build's ``--limit`` (part of the key).
        cache_dir: ``cfg.cache_dir``; records go to ``cache_dir/parsed/``.
        read: the source reader, given a fresh report.
    """
    key = parse_key(path, limit)
    folder = Path(cache_dir) / PARSED_DIR
    file = folder / f"{name}-{key[:24]}.pickle"
    hit = _load(file, key)
    if hit is not None:
        pairs, report = hit
        log.info("%s: %s parsed records reused (%s, parser unchanged)",
                 name, f"{len(pairs):,}", Path(path).name)
        return pairs, report
    report = SourceReport(name)
    pairs = list(read(report))
    _store(file, key, pairs, report, name)
    return pairs, report


def _load(file: Path, key: str) -> tuple[list[Pair], SourceReport] | None:
    if not file.is_file():
        return None
    # Unpickling ~45k records makes millions of objects; the cyclic GC would scan them
    # over and over (4-5x the load time) although they hold no cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with open(file, "rb") as f:
            payload = pickle.load(f)
        if not (isinstance(payload, dict) and payload.get("key") == key):
            raise ValueError("written for another key")
        return payload["pairs"], payload["report"]
    except Exception as e:  # noqa: BLE001 - a bad cache file only costs a parse
        log.info("Not using %s (%s: %s); parsing again", file, type(e).__name__, e)
        return None
    finally:
        if was_enabled:
            gc.enable()


def _store(file: Path, key: str, pairs: list[Pair], report: SourceReport, name: str) -> None:
    """Write atomically (temp file + rename), then drop this source's oldest files."""
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            pickle.dump({"key": key, "pairs": pairs, "report": report}, f,
                        protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
    except OSError as e:  # a read-only or full disk: the build goes on uncached
        log.warning("Could not cache parsed records in %s (%s)", file.parent, e)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return
    mine = sorted((p for p in file.parent.glob(f"{name}-*.pickle") if p != file),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in mine[KEEP_PER_SOURCE - 1:]:
        old.unlink(missing_ok=True)
