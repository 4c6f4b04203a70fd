"""Helpers shared by the bench scripts: timing statistics, memory, machine facts, output.

Each bench script measures one thing and writes ``bench/out/<name>.json`` plus a markdown
table on stdout; this module holds what they all need so no script re-implements
percentiles or RSS reading. It does not time anything by itself and asserts nothing about
speed: budgets are judged in ``bench/RESULTS.md`` by a person reading the numbers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advisor.config import DEFAULT_CORPUS_DIR as DEFAULT_CONFIG_CORPUS_DIR
from advisor.config import Config

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "bench" / "out"  # gitignored
DEFAULT_INDEX_DIR = REPO / "index"  # the full build lands here
# ADVISOR_CORPUS_DIR (read by advisor.config) wins; else the snapshot beside the repo.
_ENV_CORPUS_DIR = Config.from_env().corpus_dir
DEFAULT_CORPUS_DIR = (
    _ENV_CORPUS_DIR
    if _ENV_CORPUS_DIR != Path(DEFAULT_CONFIG_CORPUS_DIR)
    else REPO.parent / "shared" / "corpus"
)
PACKAGES = (
    "numpy",
    "faiss",
    "torch",
    "sentence_transformers",
    "transformers",
    "onnxruntime",
    "optimum",
    "llama_index.core",
    "bm25s",
    "gradio",
)


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of a list of milliseconds, rounded to 0.01 ms."""
    if len(samples_ms) == 0:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"),
                "mean": float("nan"), "max": float("nan")}
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "n": int(a.size),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "mean": round(float(a.mean()), 3),
        "max": round(float(a.max()), 3),
    }


def time_each(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[float]:
    """Call ``fn(item)`` for each item; return wall milliseconds per call."""
    out: list[float] = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _proc_status(field: str, pid: int | str = "self") -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/<pid>/status in bytes (0 where unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_bytes(pid: int | str = "self") -> int:
    """Current resident set size of a process (Linux /proc), bytes."""
    return _proc_status("VmRSS", pid)


def peak_rss_bytes(pid: int | str = "self") -> int:
    """Peak resident set size (VmHWM) of a process, bytes."""
    return _proc_status("VmHWM", pid)


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far, all its threads (Linux /proc; 0
    where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def mib(n_bytes: float) -> float:
    return round(n_bytes / (1024 * 1024), 1)


def dir_size(path: Path) -> int:
    """Total bytes of the files under ``path``."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the benches touch ("-" where absent)."""
    from importlib import import_module

    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            mod = import_module(name)
            out[name] = str(getattr(mod, "__version__", "?"))
        except Exception:  # noqa: BLE001 - absent or broken: record, don't fail a bench
            out[name] = "-"
    return out


def machine_info(with_packages: bool = True) -> dict[str, Any]:
    """Facts RESULTS.md must carry next to every number: date, cores, memory, versions."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "nproc": _cmd(["nproc"]) or str(os.cpu_count()),
        "free_h": _cmd(["free", "-h"]),
        "loadavg": _cmd(["cat", "/proc/loadavg"]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "shared_machine": True,  # other engineers' builds/tests run on the same 2 cores
    }
    if with_packages:
        info["packages"] = package_versions()
    return info


def write_result(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``<out_dir>/<name>.json`` (machine info added) and return its path."""
    out_dir = Path(out_dir) if out_dir is not None else OUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {"machine": machine_info(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=str))
    log.info("wrote %s", path)
    return path


def md_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table of dict rows (columns default to the first row's keys)."""
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def cv_parser(doc: str | None, index_dir: Path | None = None) -> argparse.ArgumentParser:
    """The command line every cross-validation script starts from: its docstring's first
    paragraph as the description, ``--folds`` (5) and, for a script that reads an index,
    ``--index-dir`` (default ``index_dir``)."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    if index_dir is not None:
        ap.add_argument("--index-dir", type=Path, default=index_dir)
    return ap


def run_cv(doc: str | None, main, index_dir: Path) -> None:
    """Run a cross-validation script whose only options are :func:`cv_parser`'s:
    ``main(folds=..., index_dir=...)`` with logging set up."""
    args = cv_parser(doc, index_dir).parse_args()
    setup_logging()
    main(folds=args.folds, index_dir=args.index_dir)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "urllib3"):  # one line per HTTP request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_tables(*tables: Sequence[dict[str, Any]]) -> None:
    """Print each table as markdown (:func:`md_table`), a blank line between them."""
    print("\n\n".join(md_table(t) for t in tables))
