"""The sources stage: read every source of a build into one :class:`SourceData`.

:func:`read_sources` reads the codebook (:mod:`builder.sources.taxonomy`), the coded
threads (:mod:`builder.sources.threads`, plus their forum titles with
``cfg.fetch_threads``) and the models: the 2022 cards and the 2026 Hub metadata from the
snapshot (``source="snapshot"``; their parsed records are reused from
:mod:`builder.sources.cache` while the file and the parser are unchanged) or models from
the live Hub (``source="hub"``). Each source counts what it read, kept and skipped in its
:class:`SourceReport`.

This module does not label threads (:mod:`builder.labelling`), shape taxonomy or thread
documents (:mod:`builder.documents`) or chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from advisor.config import Config
from advisor.corpus import require_corpus_path
from advisor.types import Document, ModelInfo, TaxonomyEntry, ThreadInfo
from builder.report import SourceReport

log = logging.getLogger(__name__)

DEFAULT_HUB_LIMIT = 200  # live Hub models per build when --limit is not given
Source = Literal["snapshot", "hub"]


@dataclass
class SourceData:
    """Everything the sources produced, before documents and chunks."""

    taxonomy: list[TaxonomyEntry]
    threads: list[ThreadInfo]
    models: list[ModelInfo]
    model_docs: list[Document]
    reports: dict[str, SourceReport]


def read_sources(
    cfg: Config,
    source: Source = "snapshot",
    limit: int | None = None,
    hub_filters: list[str] | None = None,
) -> SourceData:
    """Read every source; ``limit`` caps each model source (2022 cards, 2026, Hub)."""
    from builder.sources.taxonomy import read_taxonomy
    from builder.sources.threads import read_threads

    corpus = require_corpus_path(Path(cfg.corpus_dir), folder=True)
    reports = {name: SourceReport(name) for name in ("taxonomy", "threads")}
    taxonomy = read_taxonomy(corpus, reports["taxonomy"])
    threads = read_threads(corpus, reports["threads"])
    if cfg.fetch_threads:  # --fetch-threads: titles and first posts from the forum
        from builder.sources.discourse import fetch_thread_texts

        reports["discourse"] = SourceReport("discourse")
        threads = fetch_thread_texts(threads, cfg, reports["discourse"])
    pairs: list[tuple[ModelInfo, Document]] = []
    if source == "snapshot":
        from builder.sources.cache import read_cached
        from builder.sources.cards2022 import CARDS_FILE, read_cards
        from builder.sources.hub2026 import HUB2026_FILE, read_hub2026

        readers = [("cards2022", corpus / CARDS_FILE, read_cards),
                   ("hub2026", corpus / HUB2026_FILE, read_hub2026)]
        for name, path, reader in readers:
            read = partial(reader, require_corpus_path(path), limit=limit)  # read(report)
            records, reports[name] = read_cached(name, path, limit, cfg.cache_dir, read)
            pairs.extend(records)
    elif source == "hub":
        from builder.sources.hub_live import read_hub

        reports["hub_live"] = SourceReport("hub_live")
        pairs.extend(read_hub(None, reports["hub_live"], filters=list(hub_filters or []),
                              limit=limit or DEFAULT_HUB_LIMIT, token=cfg.hf_token))
    else:
        raise ValueError(f"Unknown source {source!r}; use 'snapshot' or 'hub'.")
    for report in reports.values():
        log.info("%s", report.summary())
    return SourceData(taxonomy, threads, [m for m, _ in pairs], [d for _, d in pairs], reports)
