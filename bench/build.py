"""Build-time figures: full default build, embedding stage, chunks/s, no-change rebuild.

The full default build takes ~12 minutes on 2 cores, so this script does not repeat it
when a finished one exists: it reads ``build_seconds``, ``embed_seconds`` and the counts
from that index's ``manifest.json`` (pass ``--full`` to build anew into a temp dir). It
always measures the no-change rebuild itself, on a *copy* of the index (the original is
never touched): ``python -m builder build --index-dir COPY`` in a subprocess, wall time
including interpreter start and model load, and the child's peak RSS from
``resource.getrusage(RUSAGE_CHILDREN)``. ``--repeat N`` (default 3) rebuilds the copy N
times in a row, one row each, and judges the budget on the median (the box is shared,
so single runs are noisy); the ``parts`` column says which index parts were taken over
from the previous build (``vectors``, ``store``, ``bm25``).

A fresh build (``--full``, ``--limit``) gets an empty ``ADVISOR_CACHE_DIR`` of its own, so
it is timed as on a new machine: the ONNX export, the parsed records and the text-vector
cache (:mod:`builder.vector_cache`) start empty; its no-change rebuilds share that folder.
Rebuilds of a copy of the user's index use the user's cache dir.

``main(..., embedder=FakeEmbedder())`` runs the same steps in-process through
:func:`builder.pipeline.build` (the smoke test uses this with a small ``limit``); peak RSS
is then this process's own.

Run: ``python -m bench.build`` (reads ``index/manifest.json``, rebuilds a copy 3 times:
~1-2 min).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/build.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    DEFAULT_CORPUS_DIR,
    DEFAULT_INDEX_DIR,
    REPO,
    md_table,
    mib,
    peak_rss_bytes,
    setup_logging,
    write_result,
)

log = logging.getLogger(__name__)

BUILD_BUDGET_S = 15 * 60  # design.md: the full default corpus within 15 minutes
REBUILD_BUDGET_S = 30  # design.md: a no-change rebuild under 30 s


def _manifest(index_dir: Path) -> dict[str, Any] | None:
    path = Path(index_dir) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _run_cli(index_dir: Path, corpus_dir: Path, limit: int | None,
             cache_dir: Path) -> tuple[float, int]:
    """``python -m builder build`` in a subprocess; (wall seconds, peak RSS bytes)."""
    cmd = [sys.executable, "-m", "builder", "build", "--index-dir", str(index_dir),
           "--corpus-dir", str(corpus_dir)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    env = {**os.environ, "ADVISOR_DISABLE_PROGRESS": "1", "HF_HUB_OFFLINE": "1",
           "ADVISOR_CACHE_DIR": str(cache_dir)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children so far (KiB on Linux);
    # when an earlier child peaked higher this understates nothing but may repeat it.
    return wall, max(peak_kib, before) * 1024


def _run_inprocess(index_dir: Path, corpus_dir: Path, limit: int | None, embedder,
                   cache_dir: Path) -> float:
    from advisor.config import Config
    from builder.pipeline import build

    # the embedder's model id also picks the chunker's tokenizer, as in a CLI build
    cfg = Config(index_dir=Path(index_dir), corpus_dir=Path(corpus_dir),
                 embed_model=embedder.model_id, disable_progress=True, cache_dir=cache_dir)
    t0 = time.perf_counter()
    build(cfg, limit=limit, embedder=embedder)
    return time.perf_counter() - t0


def _row(label: str, manifest: dict[str, Any], wall_s: float | None, rss: int | None) -> dict:
    embed_s = float(manifest.get("embed_seconds") or 0.0)
    new = int(manifest.get("embedded_new") or 0)
    return {
        "run": label,
        "wall_s": round(wall_s, 1) if wall_s is not None else None,
        "build_seconds": round(float(manifest.get("build_seconds") or 0.0), 1),
        "embed_seconds": round(embed_s, 1),
        "chunks": int(manifest.get("counts", {}).get("chunks", 0)),
        "embedded_new": new,
        "reused": int(manifest.get("reused_vectors") or 0),
        "chunks_per_s": round(new / embed_s, 1) if embed_s > 0 else None,
        "parts": ",".join(n for n, p in (manifest.get("parts") or {}).items() if p.get("reused")),
        "peak_rss_mib": mib(rss) if rss else None,
    }


def main(
    index_dir: Path = DEFAULT_INDEX_DIR,
    corpus_dir: Path = DEFAULT_CORPUS_DIR,
    full: bool = False,
    limit: int | None = None,
    embedder=None,
    out_dir: Path | None = None,
    repeat: int = 1,
) -> dict:
    """Collect the full-build figures and measure ``repeat`` no-change rebuilds of a copy."""
    rows: list[dict] = []
    notes: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    cache = work / "cache"  # cold caches, as on a new machine (ONNX export, text vectors)
    try:
        existing = None if full else _manifest(index_dir)
        if existing is not None:
            src = Path(index_dir)
            rows.append(_row(f"full build (from {src}/manifest.json)", existing, None, None))
            notes.append(f"full-build figures read from {src}/manifest.json "
                         f"(built_at {existing.get('built_at')}); not re-run")
        else:
            src = work / "fresh"
            if embedder is None:
                wall, rss = _run_cli(src, corpus_dir, limit, cache)
            else:
                wall, rss = (_run_inprocess(src, corpus_dir, limit, embedder, cache),
                             peak_rss_bytes())
            rows.append(_row("fresh build" + (f" (limit {limit})" if limit else ""),
                             _manifest(src) or {}, wall, rss))
        copy = work / "copy"
        shutil.copytree(src, copy)
        if existing is not None:  # rebuilding the user's index: the user's caches, as always
            from advisor.config import Config

            cache = Config.from_env().cache_dir
        same_limit = limit if existing is None else existing.get("limit")  # same inputs
        for i in range(1, max(1, repeat) + 1):
            if embedder is None:
                wall, rss = _run_cli(copy, corpus_dir, same_limit, cache)
            else:
                wall, rss = (_run_inprocess(copy, corpus_dir, same_limit, embedder, cache),
                             peak_rss_bytes())
            label = "no-change rebuild (copy)" + (f" {i}/{repeat}" if repeat > 1 else "")
            rows.append(_row(label, _manifest(copy) or {}, wall, rss))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    full_row = rows[0]
    rebuild_s = statistics.median(r["wall_s"] for r in rows[1:])
    if repeat > 1:
        notes.append(f"no-change rebuild: median of {repeat} runs {rebuild_s:.1f} s")
    budgets = {
        "build_s": full_row["build_seconds"],
        "build_met": full_row["build_seconds"] <= BUILD_BUDGET_S,
        "rebuild_s": round(rebuild_s, 1),
        "rebuild_met": rebuild_s < REBUILD_BUDGET_S,
    }
    result = {"rows": rows, "budgets": budgets, "notes": notes}
    result["path"] = str(write_result("build", result, out_dir))
    print(md_table(rows))
    for note in notes:
        print(note)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR,
                    help="a built index whose manifest holds the full-build figures")
    ap.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS_DIR)
    ap.add_argument("--full", action="store_true", help="build anew into a temp dir (~12 min)")
    ap.add_argument("--limit", type=int, help="cap model cards per source (quick build)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="no-change rebuilds of the copy, in a row (default 3; median judged)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(index_dir=a.index_dir, corpus_dir=a.corpus_dir, full=a.full, limit=a.limit,
         repeat=a.repeat)
