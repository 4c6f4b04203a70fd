"""Query-time figures: warm ``Advisor.advise`` latency, app cold start, app memory.

1. In-process: ``Advisor(cfg)`` on a built index, its load time, a short warm-up on
   questions *outside* the timed set (the engine memoises query vectors, so timing a
   question twice would measure the cache), then one ``advise`` per dev-set question
   (``eval/dev_questions.jsonl``, mixed challenge / selection / explain questions):
   p50/p95/p99 overall and per intent. Offline backend (no LLM), as the budget says.
2. The app: ``python app.py`` on a free loopback port with that index (auto-build off),
   timed from process start until the HTTP server answers and until the engine logs
   "Engine ready"; then a few ``/ask`` calls through ``gradio_client`` (end-to-end
   latency incl. HTTP and queueing) and the process's RSS (VmRSS, peak VmHWM).

Budgets (design.md): warm ``/ask`` p50 < 150 ms, p95 < 400 ms; ready < 20 s;
RSS < 1.5 GB. Judged in RESULTS.md; nothing here asserts them.

Run: ``python -m bench.query`` (needs ``index/``; ~2-4 min), ``--no-app`` for part 1 only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # `python bench/query.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    DEFAULT_INDEX_DIR,
    REPO,
    md_table,
    mib,
    peak_rss_bytes,
    percentiles,
    rss_bytes,
    setup_logging,
    write_result,
)

log = logging.getLogger(__name__)

DEV_QUESTIONS = REPO / "eval" / "dev_questions.jsonl"
# Invented warm-up questions, not in the dev set: they load lazy parts (BM25 tokenizer,
# classifier, recommender tables) without pre-filling the query-vector memo.
WARMUP_QUESTIONS = (
    "How do I load a tokenizer for a model I downloaded?",
    "Which model can classify the topic of short support tickets?",
    "My pipeline prints LABEL_0 and LABEL_1, what do they mean?",
    "Why does fine-tuning give a CUDA out of memory error?",
    "Can I use a model from the Hub in a commercial product?",
)
DEFAULT_APP_ASKS = 20  # below the per-session rate limit (30/min)
DEFAULT_READY_TIMEOUT_S = 180.0
BUDGET_P50_MS, BUDGET_P95_MS, BUDGET_READY_S, BUDGET_RSS_MIB = 150.0, 400.0, 20.0, 1536.0


def load_questions(path: Path = DEV_QUESTIONS) -> list[dict]:
    """Dev-set rows (``question`` at least); the invented warm-up set when absent."""
    if not Path(path).exists():
        log.warning("No %s: timing the warm-up questions instead.", path)
        return [{"id": f"w{i}", "question": q} for i, q in enumerate(WARMUP_QUESTIONS)]
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def bench_engine(index_dir: Path, questions: list[dict], embedder=None) -> dict:
    """Load time and warm ``advise`` latency, overall and per intent."""
    from advisor.config import Config
    from advisor.engine import Advisor

    cfg = Config.from_env(index_dir=Path(index_dir), llm_backend="offline",
                          disable_progress=True)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    adv = Advisor(cfg, embedder=embedder)
    adv.parts  # noqa: B018 - loads index, classifier, recommender now
    load_s = time.perf_counter() - t0
    for q in WARMUP_QUESTIONS:
        adv.advise(q)
    times: list[float] = []
    cpu: list[float] = []  # process CPU ms per call: far less sensitive to other load
    by_intent: dict[str, list[float]] = defaultdict(list)
    for row in questions:
        c0, t0 = time.process_time(), time.perf_counter()
        advice = adv.advise(row["question"])
        ms = (time.perf_counter() - t0) * 1000.0
        cpu.append((time.process_time() - c0) * 1000.0)
        times.append(ms)
        by_intent[advice.intent].append(ms)
    return {
        "load_s": round(load_s, 2),
        "rss_after_mib": mib(rss_bytes()),
        "rss_delta_mib": mib(rss_bytes() - rss0),
        "peak_rss_mib": mib(peak_rss_bytes()),
        "all": percentiles(times),
        "cpu_all": percentiles(cpu),
        "by_intent": {k: percentiles(v) for k, v in sorted(by_intent.items())},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def bench_app(index_dir: Path, questions: list[dict], n_asks: int = DEFAULT_APP_ASKS,
              timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> dict:
    """Start ``python app.py``; time to HTTP up and to engine ready; /ask latency; RSS."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "ADVISOR_INDEX_DIR": str(Path(index_dir).resolve()), "ADVISOR_AUTO_BUILD": "0",
           "ADVISOR_LOG_DB": str(tmp / "log.sqlite"), "ADVISOR_LLM_BACKEND": "offline",
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "ADVISOR_DISABLE_PROGRESS": "1"}
    ready_event = threading.Event()
    lines: list[str] = []
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready_at: list[float] = []

    def _reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "Engine ready" in line and not ready_at:
                ready_at.append(time.perf_counter() - t_start)
                ready_event.set()

    threading.Thread(target=_reader, daemon=True).start()
    out: dict = {"port": port}
    try:
        http_s = None
        while time.perf_counter() - t_start < timeout_s:
            if proc.poll() is not None:
                raise RuntimeError("app.py exited early:\n" + "\n".join(lines[-30:]))
            if http_s is None and _http_ok(url):
                http_s = time.perf_counter() - t_start
            if http_s is not None and ready_event.is_set():
                break
            time.sleep(0.1)
        out["http_up_s"] = round(http_s, 2) if http_s is not None else None
        out["engine_ready_s"] = round(ready_at[0], 2) if ready_at else None
        out["ready_s"] = (round(max(http_s, ready_at[0]), 2)
                          if http_s is not None and ready_at else None)
        out["rss_ready_mib"] = mib(rss_bytes(proc.pid))
        from gradio_client import Client

        client = Client(url, verbose=False)
        ms: list[float] = []
        for row in questions[:n_asks]:
            t0 = time.perf_counter()
            client.predict(row["question"], api_name="/ask")
            ms.append((time.perf_counter() - t0) * 1000.0)
        out["ask_http"] = percentiles(ms)
        out["rss_after_asks_mib"] = mib(rss_bytes(proc.pid))
        out["peak_rss_mib"] = mib(peak_rss_bytes(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    out["log_tail"] = lines[-5:]
    return out


def main(index_dir: Path = DEFAULT_INDEX_DIR, app: bool = True, embedder=None,
         questions_path: Path = DEV_QUESTIONS, limit: int | None = None,
         out_dir: Path | None = None) -> dict:
    """Run the engine part (and the app part); write JSON, print tables."""
    questions = load_questions(questions_path)[:limit]
    engine = bench_engine(index_dir, questions, embedder=embedder)
    result: dict = {"engine": engine, "n_questions": len(questions)}
    if app:
        result["app"] = bench_app(index_dir, questions)
    result["budgets"] = budgets(result)
    result["path"] = str(write_result("query", result, out_dir))
    rows = [{"set": "all", **engine["all"]}, {"set": "all, CPU ms", **engine["cpu_all"]}] + [
        {"set": f"intent={k}", **v} for k, v in engine["by_intent"].items()]
    print(f"Advisor load {engine['load_s']} s, RSS {engine['rss_after_mib']} MiB\n")
    print(md_table(rows, ["set", "n", "p50", "p95", "p99", "mean", "max"]))
    if app:
        a = result["app"]
        print(f"\napp: HTTP up {a['http_up_s']} s, engine ready {a['engine_ready_s']} s, "
              f"RSS ready {a['rss_ready_mib']} MiB, after asks {a['rss_after_asks_mib']} MiB; "
              f"/ask over HTTP p50 {a['ask_http']['p50']} ms p95 {a['ask_http']['p95']} ms")
    return result


def budgets(result: dict) -> dict:
    e, a = result["engine"]["all"], result.get("app") or {}
    out = {"ask_p50_ms": e["p50"], "ask_p50_met": e["p50"] < BUDGET_P50_MS,
           "ask_p95_ms": e["p95"], "ask_p95_met": e["p95"] < BUDGET_P95_MS}
    if a:
        rss = a.get("peak_rss_mib") or a.get("rss_after_asks_mib")
        out.update({"ready_s": a.get("ready_s"),
                    "ready_met": a.get("ready_s") is not None and a["ready_s"] < BUDGET_READY_S,
                    "rss_mib": rss, "rss_met": rss is not None and rss < BUDGET_RSS_MIB})
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    ap.add_argument("--questions", type=Path, default=DEV_QUESTIONS)
    ap.add_argument("--no-app", action="store_true", help="skip the app cold-start part")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(index_dir=a.index_dir, app=not a.no_app, questions_path=a.questions)
