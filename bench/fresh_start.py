"""Fresh start from a Hub dataset: time from ``python app.py`` to its first answer when
the app has no index and must download it (issue 12: "Fresh start with
``ADVISOR_INDEX_REPO`` pointing at a local Hub-like server: first answer < 20 s").

1. Starts the in-memory Hub-like server (:mod:`bench.fake_hub`) on 127.0.0.1 in a thread
   and pushes ``--index-dir`` to a dataset repo on it with the project's own
   ``python -m builder push`` (``HF_ENDPOINT`` = the server, a dummy token).
2. Per run (``--runs``): starts ``python app.py`` on a free loopback port
   (:func:`bench.load.spawn_app`) with an index dir that does not exist, an empty
   ``HF_HOME`` and cache, ``ADVISOR_INDEX_REPO`` = the repo, ``HF_HUB_OFFLINE=0`` and
   ``ADVISOR_AUTO_BUILD=0`` (a failed download ends the run with an error, never with a
   locally built index), and measures from the process start:
   - **HTTP up**: the app's ``/config`` answers 200;
   - **downloaded** and **engine ready**: when the app's log line (``Downloaded dataset``,
     ``Engine ready after``) appears (polled every 50 ms);
   - **first answer**: the first ``/ask`` through gradio_client that succeeds, asked once a
     second from HTTP up and at once when the engine reports ready. Until the engine is
     ready ``/ask`` raises "The advisor is starting..." (``EngineHolder.get``), so a success
     is a real answer; it is also checked to carry an answer text and categories;
   - the app's RSS (VmRSS) and peak (VmHWM) when the first answer came, and whether torch
     or onnxruntime are mapped into the process (``/proc/<pid>/maps``).
   After the answer, the downloaded index must match the pushed manifest file for file.
3. Prints a markdown table and writes ``bench/out/fresh_start.json``.

Not measured: the real Hub's network, LFS and Xet transfers (this server sends every file
inline from memory over loopback, so the download time is a lower bound for a Space) and
the push itself (its seconds are recorded, not judged). Each run starts with a cold app
and empty caches, but the OS page cache is warm after the first run. It does not judge
the 20 s budget beyond a yes/no column (``bench/RESULTS.md`` does). Only loopback URLs.

usage: python -m bench.fresh_start --index-dir index [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import fake_hub
from bench._common import (
    REPO,
    dir_size,
    md_table,
    mib,
    peak_rss_bytes,
    rss_bytes,
    write_result,
)
from bench.load import check_loopback, spawn_app

log = logging.getLogger(__name__)

BUDGET_S = 20.0  # issue 12: first answer after a fresh start
REPO_ID = "bench/advisor-index"
DUMMY_TOKEN = "hf_bench_fresh_start_dummy"  # the local server checks no token
QUESTION = "Which model should I use for sentiment analysis of German product reviews?"
DEFAULT_TIMEOUT_S = 180.0  # one run, process start to first answer
ASK_EVERY_S = 1.0  # while the engine loads
MARKERS = {"downloaded_s": "Downloaded dataset ", "engine_ready_s": "Engine ready after"}
FAILURES = ("Could not use the index from dataset", "Engine failed to start")
TIMES = ("http_up_s", "downloaded_s", "engine_ready_s", "first_answer_s")


def hub_env(endpoint: str, hf_home: Path) -> dict[str, str]:
    """huggingface_hub settings for a child talking to the local server only."""
    check_loopback(endpoint)
    return {"HF_ENDPOINT": endpoint, "HF_TOKEN": DUMMY_TOKEN, "HF_HOME": str(hf_home),
            "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}


def push(index_dir: Path, endpoint: str, tmp: Path) -> float:
    """``python -m builder push`` of ``index_dir`` to :data:`REPO_ID`; returns seconds."""
    env = {**os.environ, **hub_env(endpoint, tmp / "push-hf")}
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "builder", "push", "--repo-id", REPO_ID,
         "--index-dir", str(index_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"push failed (exit {out.returncode}): {out.stderr.strip()[-800:]}")
    return time.monotonic() - t0


class LogWatcher(threading.Thread):
    """Notes when each of :data:`MARKERS` first appears in the app's log (seconds since
    ``t0``) and the first line of :data:`FAILURES`; ``event`` is set on ready or failure."""

    def __init__(self, path: Path, t0: float):
        super().__init__(name="app-log-watcher", daemon=True)
        self.path, self.t0 = path, t0
        self.seen: dict[str, float] = {}
        self.failure = ""
        self.event = threading.Event()
        self._halt = threading.Event()
        self._pos, self._partial = 0, ""
        self.start()

    def poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                f.seek(self._pos)
                text = f.read()
                self._pos = f.tell()
        except OSError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        now = time.monotonic() - self.t0
        for line in lines:
            for key, marker in MARKERS.items():
                if marker in line and key not in self.seen:
                    self.seen[key] = now
            if not self.failure and any(f in line for f in FAILURES):
                self.failure = line.strip()[-500:]
        if "engine_ready_s" in self.seen or self.failure:
            self.event.set()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            self.poll()

    def stop(self) -> None:
        self._halt.set()
        self.join(2)
        self.poll()


def _mapped(pid: int, needle: str) -> bool:
    """Whether a file whose path contains ``needle`` is mapped into process ``pid``."""
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _first_answer(out: dict[str, Any], proc: subprocess.Popen, url: str, watcher: LogWatcher,
                  t0: float, timeout: float) -> None:
    """Wait for HTTP, then ask until a real answer comes (module doc), filling ``out`` as
    it goes; raise on failure."""
    import httpx
    from gradio_client import Client

    out["ask_attempts"] = 0
    client, last = None, ""
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with status {proc.returncode}")
        if watcher.failure:
            raise RuntimeError(f"the app did not get the index: {watcher.failure}")
        if out["http_up_s"] is None:
            try:
                up = httpx.get(url + "config", timeout=2).status_code == 200
            except httpx.HTTPError:
                up = False
            if not up:
                time.sleep(0.1)
                continue
            out["http_up_s"] = time.monotonic() - t0
        try:
            if client is None:
                client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})
            out["ask_attempts"] += 1
            answer, advice = client.predict(QUESTION, api_name="/ask")
        except Exception as e:  # noqa: BLE001 - "still starting" or not up: ask again
            last = f"{type(e).__name__}: {str(e)[:300]}"
            if watcher.event.is_set():
                time.sleep(0.2)
            else:
                watcher.event.wait(ASK_EVERY_S)  # ask at once when the engine is ready
            continue
        out["first_answer_s"] = time.monotonic() - t0
        out["rss_mib"], out["peak_rss_mib"] = mib(rss_bytes(proc.pid)), mib(peak_rss_bytes(proc.pid))
        out["torch_loaded"] = _mapped(proc.pid, "libtorch")
        out["onnxruntime_loaded"] = _mapped(proc.pid, "onnxruntime")
        if not (isinstance(answer, str) and answer.strip() and isinstance(advice, dict)
                and advice.get("categories")):
            raise RuntimeError(f"/ask returned no real answer: {str(answer)[:200]!r}")
        out["answer_chars"] = len(answer)
        out["top_category"] = advice["categories"][0].get("category")
        return
    raise RuntimeError(f"no answer within {timeout:.0f} s (last /ask: {last or 'none'})")


def run_once(n: int, endpoint: str, want_files: dict[str, Any], extra_env: dict[str, str],
             cmd: list[str] | None, timeout: float) -> dict[str, Any]:
    """One fresh ``python app.py`` in its own empty temp dir; a row (with ``error`` set
    and the app log's tail on failure)."""
    row: dict[str, Any] = {"run": n, **dict.fromkeys(TIMES), "error": None}
    with tempfile.TemporaryDirectory(prefix="advisor-fresh-") as tmp_name:
        tmp = Path(tmp_name)
        index_dir = tmp / "index"  # does not exist: the app must download it
        env = {**hub_env(endpoint, tmp / "hf"), "ADVISOR_INDEX_REPO": REPO_ID,
               "ADVISOR_INDEX_REVISION": "", "ADVISOR_CACHE_DIR": str(tmp / "cache"),
               "PYTHONUNBUFFERED": "1", **extra_env}
        t0 = time.monotonic()
        proc, url, log_path = spawn_app(index_dir, tmp / "querylog.sqlite", env, cmd)
        check_loopback(url)
        watcher = LogWatcher(log_path, t0)
        try:
            _first_answer(row, proc, url, watcher, t0, timeout)
            watcher.poll()
            manifest = json.loads((index_dir / "manifest.json").read_text())
            row["index_matches_repo"] = manifest.get("files") == want_files
            row["download_mib"] = mib(dir_size(index_dir))
            if not row["index_matches_repo"]:
                raise RuntimeError(f"{index_dir} is not the pushed index")
        except Exception as e:  # noqa: BLE001 - recorded in the row and the exit status
            row["error"] = f"{type(e).__name__}: {e}"
            row["app_log_tail"] = log_path.read_text(errors="replace").splitlines()[-25:]
        finally:
            watcher.stop()
            row.update({k: v for k, v in watcher.seen.items() if row.get(k) is None})
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    for k in TIMES:
        row[k] = None if row[k] is None else round(row[k], 2)
    row["met"] = row["first_answer_s"] is not None and row["first_answer_s"] < BUDGET_S
    return row


def run(index_dir: Path, runs: int = 1, extra_env: dict[str, str] | None = None,
        cmd: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT_S,
        out_dir: Path | None = None) -> dict[str, Any]:
    """Push ``index_dir`` to a fresh local Hub, then ``runs`` fresh starts; the payload
    written to ``<out_dir>/fresh_start.json``. ``cmd`` replaces ``python app.py`` (the
    smoke test's launcher); ``extra_env`` is added to the app's environment."""
    index_dir = Path(index_dir).resolve()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    with tempfile.TemporaryDirectory(prefix="advisor-push-") as tmp, fake_hub.serve() as hub:
        push_s = push(index_dir, hub.endpoint, Path(tmp))
        log.info("pushed %s in %.1f s", index_dir, push_s)
        rows = [run_once(n, hub.endpoint, manifest["files"], extra_env or {}, cmd, timeout)
                for n in range(1, runs + 1)]
    ok = [r for r in rows if not r["error"]]
    median = {k: round(statistics.median(r[k] for r in ok if r[k] is not None), 2)
              for k in (*TIMES, "rss_mib", "peak_rss_mib")
              if any(r.get(k) is not None for r in ok)}
    payload = {
        "budget_s": BUDGET_S, "question": QUESTION, "repo_id": REPO_ID,
        "push_s": round(push_s, 1), "runs": rows, "median": median,
        "errors": len(rows) - len(ok),
        "index": {"dir": str(index_dir), "mib": mib(dir_size(index_dir)),
                  "counts": manifest.get("counts"), "embed_model": manifest.get("embed_model")},
    }
    payload["path"] = str(write_result("fresh_start", payload, out_dir))
    return payload


def report_markdown(payload: dict[str, Any]) -> str:
    cols = ["run", *TIMES, "rss_mib", "peak_rss_mib", "torch_loaded", "download_mib", "met"]
    def cell(v: Any) -> Any:
        return {True: "yes", False: "no"}.get(v, v) if isinstance(v, bool) else v

    rows = [{k: cell(v) for k, v in r.items()} for r in payload["runs"]]
    if len(rows) > 1 and payload["median"]:
        rows.append({"run": "median", **payload["median"]})
    lines = [md_table(rows, cols), "",
             f"Index {payload['index']['mib']} MiB pushed in {payload['push_s']} s; budget: "
             f"first answer < {payload['budget_s']:.0f} s."]
    lines += [f"run {r['run']} failed: {r['error']}" for r in payload["runs"] if r["error"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fresh_start", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-dir", type=Path, default=REPO / "index",
                   help="the built index to push (default: index/)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help="seconds per run, process start to first answer")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (args.index_dir / "manifest.json").exists():
        p.error(f"no index at {args.index_dir}; build one with `python -m builder build`")
    # SIGTERM unwinds like Ctrl-C, so the app and the server are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    payload = run(args.index_dir, args.runs, timeout=args.timeout)
    print(report_markdown(payload))
    for r in payload["runs"]:
        if r["error"]:
            print(f"\nrun {r['run']} app log (last lines):\n" + "\n".join(r["app_log_tail"]),
                  file=sys.stderr)
    print(f"\nwritten: {payload['path']}")
    return 1 if payload["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
