"""The labelling stage: a challenge category for every coded thread.

Threads with a study label (root causes) keep it; the others get one from
:class:`advisor.classifier.TaxonomyClassifier`, fitted on the codebook, the labelled
threads, the guidance pages and the labelled real posts, and saved into the index
(:meth:`Labelling.save`). When those inputs are unchanged (:func:`_classifier_inputs_sha256`,
stored in the manifest as ``classifier.inputs_sha256``) the previous index's classifier
files and thread labels are reused instead of embedding and fitting again.

This module does not read the corpus (:mod:`builder.sources`) or shape documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from advisor.embedding import Embedder
from advisor.types import ThreadInfo
from builder.sources.read import SourceData
from builder.store import CLASSIFIER_FILES

log = logging.getLogger(__name__)


def _classifier_inputs_sha256(data: SourceData, guidance: dict, embedder: Embedder,
                              posts: list | None = None, head: dict | None = None) -> str:
    """Digest of everything the classifier is fitted on (a rebuild with the same digest
    reuses the previous fit and thread labels instead of embedding them again)."""
    from advisor.classifier import FEATURES_VERSION, FORMAT_VERSION

    payload = json.dumps(
        {
            "embed_model": embedder.model_id,
            "dim": embedder.dim,
            "features_version": FEATURES_VERSION,
            "format_version": FORMAT_VERSION,  # files of another format are never reused
            "taxonomy": [asdict(e) for e in data.taxonomy],
            "threads": [asdict(t) for t in data.threads],
            "guidance": {k: asdict(v) if is_dataclass(v) else repr(v)
                         for k, v in sorted(guidance.items())},
            "posts": [asdict(p) for p in posts or []],
            "category_head": head or None,  # its settings; None = built without it
        },
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _previous_labels(index_dir: Path, digest: str) -> dict[int, ThreadInfo] | None:
    """Thread labels of the index being replaced, if its classifier had the same inputs."""
    from advisor.index import STORE_FILE, read_manifest

    try:
        man = read_manifest(index_dir)
        if (man.get("classifier") or {}).get("inputs_sha256") != digest:
            return None
        if not all((index_dir / f).exists() for f in CLASSIFIER_FILES):
            return None
        con = sqlite3.connect(f"file:{(index_dir / STORE_FILE).resolve()}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT json FROM threads").fetchall()
        finally:
            con.close()
    except Exception as e:  # noqa: BLE001 - no reuse, just fit again
        log.info("Not reusing the previous classifier (%s)", e)
        return None
    fields_ = set(ThreadInfo.__dataclass_fields__)
    out = {}
    for (js,) in rows:
        d = json.loads(js)
        out[d["topic_id"]] = ThreadInfo(**{k: v for k, v in d.items() if k in fields_})
    return out


@dataclass
class Labelling:
    """How threads got their labels; ``save`` puts the classifier into the new index."""

    classifier: Any = None  # fitted TaxonomyClassifier, or None
    reuse_from: Path | None = None  # copy classifier files from this index dir
    inputs_sha256: str = ""
    head: Any = None  # builder.category_head.FittedHead, or None
    head_info: dict[str, Any] | None = None  # what the manifest says about the head

    def save(self, tmp_dir: Path, threads: list[ThreadInfo]) -> dict[str, Any]:
        from advisor.category_head import HEAD_DIR

        info: dict[str, Any] = {"fitted": False, "inputs_sha256": self.inputs_sha256}
        if self.reuse_from is not None:
            for name in CLASSIFIER_FILES:
                shutil.copy2(self.reuse_from / name, tmp_dir / name)
            if (self.reuse_from / HEAD_DIR).is_dir():
                shutil.copytree(self.reuse_from / HEAD_DIR, tmp_dir / HEAD_DIR)
            info.update(fitted=True, reused=True)
        elif self.classifier is not None:
            self.classifier.save(tmp_dir)
            if self.head is not None:
                self.head.save(tmp_dir / HEAD_DIR)
            info.update(fitted=True, reused=False)
        info["category_head"] = self.head_info
        by_source: dict[str, int] = {}
        for t in threads:
            if t.category:
                by_source[t.label_source] = by_source.get(t.label_source, 0) + 1
        info["labelled_threads"] = by_source
        return info


def label_threads(data: SourceData, embedder: Embedder, index_dir: Path,
                  known_issues: Sequence[Any] = (), head_epochs: float = 0.0,
                  base_model: str = "", disable_progress: bool = False) -> Labelling:
    """Label threads without a study label with the taxonomy classifier.

    ``known_issues`` (the KB entries, read once by the build) add their examples and
    descriptions to the training texts. With ``head_epochs`` > 0 the classifier gets a
    fine-tuned head (:mod:`builder.category_head`, from ``base_model``) before it labels. Reuses the previous index's classifier and labels
    when their inputs (taxonomy, threads, guidance, labelled texts, embedding model) are
    unchanged; otherwise fits a new one. When
    :mod:`advisor.classifier` is not available, threads keep only their root-cause
    labels.
    """
    try:
        from advisor.classifier import TaxonomyClassifier
        from advisor.config import LABELLED_POSTS_FILE
        from advisor.guidance import load_guidance
        from advisor.labelled import known_issue_texts, labelled_posts
    except ImportError as e:
        log.warning("Taxonomy classifier unavailable (%s); threads are not labelled", e)
        return Labelling()
    guidance = load_guidance()
    posts = labelled_posts(Path(LABELLED_POSTS_FILE).parent) + known_issue_texts(known_issues)
    head_cfg = None
    if head_epochs > 0:
        from builder.category_head import MAX_LEN

        head_cfg = {"epochs": head_epochs, "max_len": MAX_LEN, "base_model": base_model}
    digest = _classifier_inputs_sha256(data, guidance, embedder, posts, head_cfg)
    previous = _previous_labels(Path(index_dir), digest)
    if previous is not None and set(previous) == {t.topic_id for t in data.threads}:
        data.threads = [previous[t.topic_id] for t in data.threads]
        log.info("Reusing the previous classifier and thread labels (inputs unchanged)")
        return Labelling(reuse_from=Path(index_dir), inputs_sha256=digest, head_info=head_cfg)
    clf = TaxonomyClassifier().fit(data.taxonomy, data.threads, guidance, embedder, posts)
    head = None
    if head_cfg is not None:
        from builder.category_head import fit_category_head

        head = fit_category_head(posts, base_model, head_epochs, disable_progress=disable_progress)
        clf.head = head  # FittedHead.proba: the same scores as the saved ONNX head
        head_cfg = {**head_cfg, "posts": head.n_texts, "seconds": round(head.seconds, 1),
                    "epoch_losses": [round(x, 4) for x in head.losses]}
    data.threads = clf.label_threads(data.threads)
    return Labelling(classifier=clf, inputs_sha256=digest, head=head, head_info=head_cfg)
