"""Build stage: fine-tune MiniLM to name the pipeline tag that a model request needs.

:func:`task_head_stage` fine-tunes the embedding model's transformer with one linear
layer (:func:`builder.category_head.fit_text_head`, the category head's schedule) on the
labelled training requests (``eval/train_requests.jsonl``: question -> ``task``), and
saves it for :class:`advisor.task_head.TaskHead` as ``task_head/`` inside the index. The
fine-tune is reused from the index being replaced when its inputs (the requests, the base
model, the schedule) are unchanged, so a rebuild that only adds model cards or posts does
not pay for it again.

Why: ``python -m bench.task_head_cv --by-batch`` (see ``bench/RESULTS.md``, thirty-seventh
pass). This module imports torch and transformers only when it fits; the app never
imports it. It does not decide how much the head counts (:data:`advisor.task_head.W_HEAD`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.config import TRAIN_REQUESTS_FILE, Config
from advisor.labelled import training_requests
from advisor.task_head import TASK_HEAD_DIR, TASK_HEAD_MODEL_PREFIX
from builder import taskfit

log = logging.getLogger(__name__)

MIN_REQUESTS = 20  # fewer labelled requests (or one task only): no head
FORMAT = 1  # of the manifest section and the digest


def task_head_stage(cfg: Config, limit: int | None = None,
                    requests_file: Path = TRAIN_REQUESTS_FILE
                    ) -> tuple[Callable[[Path], None], dict[str, Any] | None]:
    """``(save(tmp_dir), manifest section)``. No head (section None) on a build capped by
    ``limit`` (quick builds, tests), with ``cfg.task_head_epochs`` 0, or with too few
    labelled requests."""
    epochs = cfg.task_head_epochs if limit is None else 0.0
    requests = training_requests(requests_file)
    tasks = sorted({t for _, t in requests})
    if epochs <= 0 or len(requests) < MIN_REQUESTS or len(tasks) < 2:
        if epochs > 0:
            log.warning("No task head: %d labelled requests in %s", len(requests), requests_file)
        return (lambda tmp: None), None
    from builder.category_head import MAX_LEN

    settings = {"epochs": epochs, "max_len": MAX_LEN, "base_model": cfg.embed_model}
    digest = hashlib.sha256(json.dumps([FORMAT, settings, requests]).encode()).hexdigest()
    prev_dir = Path(cfg.index_dir)
    prev = taskfit.previous_section(prev_dir, "task_head")
    info: dict[str, Any] = {"format_version": FORMAT, **settings, "requests": len(requests),
                            "tasks": len(tasks), "inputs_sha256": digest}
    if prev.get("inputs_sha256") == digest and (prev_dir / TASK_HEAD_DIR).is_dir():
        log.info("Reusing the previous task head (inputs unchanged)")
        info.update(reused=True, seconds=prev.get("seconds"))

        def copy(tmp: Path) -> None:
            shutil.copytree(prev_dir / TASK_HEAD_DIR, tmp / TASK_HEAD_DIR)
        return copy, info
    from builder.category_head import fit_text_head

    head = fit_text_head([q for q, _ in requests], [t for _, t in requests], tasks,
                         cfg.embed_model, epochs, disable_progress=cfg.disable_progress,
                         what="task head")
    info.update(reused=False, seconds=round(head.seconds, 1),
                epoch_losses=[round(x, 4) for x in head.losses])

    def save(tmp: Path) -> None:
        head.save(tmp / TASK_HEAD_DIR, model_prefix=TASK_HEAD_MODEL_PREFIX)
    return save, info
