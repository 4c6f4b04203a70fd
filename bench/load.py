"""Bounded load test of the running app on 127.0.0.1, with a lost-rows check.

Simulated users, each its own Gradio session, loop until the duration is over (or each
has done ``--max-actions``), with a short think time between actions:

- **API users' actions** through Gradio's plain HTTP API (``--client http``, default;
  ``--client gradio_client`` uses gradio_client instead): ``/ask`` (model choice and
  challenge questions), ``/recommend``, ``/explain_output`` (pasted outputs);
- **chat + feedback** through the browser's own protocol (``/gradio_api/queue/join``
  and the SSE stream at ``/gradio_api/queue/data``, the way the page calls the private
  chat handler): a streamed answer in the Ask tab, then a like or dislike click on
  about half of them.

Every question carries a unique tag (``[lt-u03-0017]``) so the query log can be checked
exactly afterwards: one ``answered`` row per answer the client received, with the
right kind, no duplicates, and the feedback of every click. Reports throughput,
p50/p95/p99 latency per action and overall, the error rate and the log check.

Usage::

    python -m bench.load --index-dir index --users 20 --duration 120   # starts app.py
    python -m bench.load --url http://127.0.0.1:7860/ --log-db data/querylog.sqlite

Only loopback URLs are accepted. It does not judge the numbers (bench/RESULTS.md does)
and changes nothing in the app; the app's rate limit is switched off for the started
app (``ADVISOR_RATE_LIMIT=0``) because the simulated users ask faster than people.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench._common import (
    REPO,
    cpu_seconds,
    machine_info,
    md_table,
    mib,
    percentiles,
    rss_bytes,
    write_result,
)

log = logging.getLogger(__name__)

DEFAULT_USERS = 20
DEFAULT_DURATION_S = 120.0
DEFAULT_MAX_ACTIONS = 500  # per user: a hard bound besides the clock
DEFAULT_THINK_S = (0.2, 1.0)  # pause between a user's actions (uniform), seconds
DEFAULT_FEEDBACK_SHARE = 0.5  # of chat answers get a like/dislike click
DEFAULT_REQUEST_TIMEOUT_S = 120.0  # one action; queued behind 19 others on 2 cores
DEFAULT_READY_TIMEOUT_S = 300.0  # app start: MiniLM load + index load on a busy machine
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# action -> weight: the mix of a beginner-facing Space
MIX = {"ask": 4, "chat": 3, "recommend": 2, "explain": 2}

QUESTIONS = [
    "Which model should I use for sentiment analysis of German product reviews?",
    "What is a good small model for named entity recognition in Spanish on CPU?",
    "I need a model to summarise English news articles, which one?",
    "Recommend a sentence embedding model for semantic search",
    "CUDA out of memory when fine-tuning BERT on Colab. How do I fix it?",
    "OSError: Can't load tokenizer for 'my-model'. What am I doing wrong?",
    "How do I fine-tune a model on my own dataset?",
    "My fine-tuned model gives the same prediction for every input, why?",
    "How can I deploy a transformers model behind an API?",
    "Why is the inference so slow on my laptop?",
    "What does the max_length warning during generation mean?",
    "How do I convert a PyTorch model to ONNX?",
]
OUTPUTS = [
    "[{'label': 'LABEL_1', 'score': 0.9731}]",
    "RuntimeError: CUDA out of memory. Tried to allocate 64.00 MiB",
    "tensor([[-1.2031,  2.4512]])",
    "Some weights of BertForSequenceClassification were not initialized from the model "
    "checkpoint at bert-base-uncased and are newly initialized: ['classifier.weight']",
    "ValueError: Unrecognized configuration class for this kind of AutoModel",
    "loss: nan",
]
TASKS = ["sentiment of English tweets", "German named entity recognition",
         "image classification of plants", "speech recognition for Dutch",
         "question answering over documents"]


@dataclass
class Sample:
    """One finished (or failed) action."""

    user: int
    kind: str  # ask | chat | recommend | explain | feedback
    tag: str
    ok: bool
    ms: float
    error: str = ""
    liked: bool | None = None  # feedback clicks only


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    users: int = 0

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.ok]
        errors = [s for s in self.samples if not s.ok]
        by_kind = {}
        for kind in sorted({s.kind for s in self.samples}):
            ks = [s for s in self.samples if s.kind == kind]
            by_kind[kind] = {"ok": sum(s.ok for s in ks), "errors": sum(not s.ok for s in ks),
                             **percentiles([s.ms for s in ks if s.ok])}
        answers = [s for s in ok if s.kind != "feedback"]
        return {
            "users": self.users,
            "seconds": round(self.seconds, 1),
            "actions": len(self.samples),
            "answers": len(answers),
            "feedback_clicks": sum(s.kind == "feedback" for s in ok),
            "errors": len(errors),
            "error_rate": round(len(errors) / max(1, len(self.samples)), 4),
            "throughput_answers_per_s": round(len(answers) / max(self.seconds, 1e-9), 3),
            "latency_ms": percentiles([s.ms for s in answers]),
            "by_kind": by_kind,
            "error_examples": Counter(s.error[:120] for s in errors).most_common(5),
        }


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"error: the load test only targets 127.0.0.1, not {host!r}")


# --- the browser protocol for the chat (private handlers) -----------------------------------
class ChatSession:
    """One browser tab: the Ask tab's submit and like events over the queue protocol."""

    def __init__(self, url: str, config: dict[str, Any], timeout: float):
        import httpx

        self.url = url.rstrip("/")
        self.session_hash = uuid.uuid4().hex[:11]
        self.http = httpx.Client(timeout=timeout)
        self.timeout = timeout
        self.history: list[dict[str, Any]] = []
        ids = {c.get("props", {}).get("elem_id"): c["id"] for c in config["components"]}
        self.box, self.chat = ids["ask-input"], ids["ask-chat"]
        deps = config["dependencies"]
        self.submit_fn = _dep_index(deps, self.box, "submit")
        self.like_fn = _dep_index(deps, self.chat, "like")

    def _call(self, fn_index: int, trigger: int, data: list, event_data: Any = None) -> list:
        body = {"data": data, "fn_index": fn_index, "trigger_id": trigger,
                "session_hash": self.session_hash, "event_data": event_data}
        r = self.http.post(f"{self.url}/gradio_api/queue/join", json=body)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        deadline = time.monotonic() + self.timeout
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data",
                              params={"session_hash": self.session_hash}) as resp:
            for line in resp.iter_lines():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer within {self.timeout:.0f} s")
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                if msg.get("msg") == "process_completed":
                    out = msg.get("output") or {}
                    if not msg.get("success", True) or out.get("error"):
                        raise RuntimeError(f"app error: {str(out.get('error'))[:200]}")
                    return out.get("data") or []
                if msg.get("msg") == "unexpected_error":
                    raise RuntimeError(f"unexpected error: {msg.get('message')}")
        raise RuntimeError("the event stream closed before the answer completed")

    def ask(self, question: str) -> int:
        """Send a chat message; return the index of the answer message (for likes)."""
        data = self._call(self.submit_fn, self.box, [question, self.history, None])
        history = data[0]
        if isinstance(history, dict) and "value" in history:  # an update, not a value
            history = history["value"]
        if not history or history[-1].get("role") != "assistant":
            raise RuntimeError("no assistant message in the chat")
        self.history = history
        # the answer is the first assistant message after our question
        for i in range(len(history) - 1, -1, -1):
            if history[i].get("role") == "user":
                return i + 1
        raise RuntimeError("question missing from the chat history")

    def text(self, index: int) -> str:
        """The text of one chat message (gradio 6 sends content as a list of parts)."""
        content = self.history[index].get("content")
        if isinstance(content, list):
            return " ".join(p.get("text", "") if isinstance(p, dict) else str(p)
                            for p in content)
        return str(content or "")

    def like(self, index: int, liked: bool) -> str:
        value = self.history[index].get("content")
        data = self._call(self.like_fn, self.chat, [None],
                          {"index": index, "value": value, "liked": liked})
        note = data[0] if data else ""
        return note.get("value", "") if isinstance(note, dict) else str(note)

    def close(self) -> None:
        self.http.close()


def _dep_index(deps: list[dict], target: int, event: str) -> int:
    for i, d in enumerate(deps):
        if [target, event] in [list(t) for t in d.get("targets", [])]:
            return int(d.get("id", i))
    raise RuntimeError(f"no {event} event on component {target} in the app config")


class HttpApi:
    """The app's public API over Gradio's plain HTTP protocol (what ``curl`` uses):
    ``POST /gradio_api/call/<name>`` -> event id, then the event's SSE stream. The same
    endpoints, queue and handlers as ``gradio_client``, at a fraction of the client's
    CPU (on a 2-core box the load generator competes with the app it measures)."""

    def __init__(self, url: str, timeout: float):
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)
        # one Gradio session per simulated user, as gradio_client and the browser keep
        # (without one, every call is a new session: Gradio builds its state anew)
        self.session_hash = uuid.uuid4().hex[:11]

    def predict(self, *data: Any, api_name: str) -> list:
        name = api_name.lstrip("/")
        r = self.http.post(f"{self.url}/gradio_api/call/{name}",
                           json={"data": list(data), "session_hash": self.session_hash})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        event = None
        with self.http.stream("GET", f"{self.url}/gradio_api/call/{name}/{event_id}") as resp:
            resp.raise_for_status()
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = json.loads(line[5:]) if line[5:].strip() else None
                    if event == "error":
                        raise RuntimeError(f"app error: {str(payload)[:200]}")
                    return payload or []
        raise RuntimeError("the event stream closed before the answer completed")

    def close(self) -> None:
        self.http.close()


def make_api_client(kind: str, url: str, timeout: float) -> Any:
    """``http`` (default, :class:`HttpApi`) or ``gradio_client`` (its ``Client``)."""
    if kind == "gradio_client":
        from gradio_client import Client

        return Client(url, verbose=False, httpx_kwargs={"timeout": timeout})
    return HttpApi(url, timeout)


# --- users ---------------------------------------------------------------------------------------
class User(threading.Thread):
    def __init__(self, n: int, url: str, config: dict, deadline: float, max_actions: int,
                 think: tuple[float, float], feedback_share: float, timeout: float,
                 out: list[Sample], lock: threading.Lock, seed: int, client: str = "http"):
        super().__init__(name=f"load-user-{n}", daemon=True)
        self.client_kind = client
        self.n, self.url, self.config, self.deadline = n, url, config, deadline
        self.max_actions, self.think, self.share = max_actions, think, feedback_share
        self.timeout, self.out, self.lock = timeout, out, lock
        self.rng = random.Random(seed)

    def _record(self, s: Sample) -> None:
        with self.lock:
            self.out.append(s)

    def run(self) -> None:
        try:
            client = make_api_client(self.client_kind, self.url, self.timeout)
            chat = ChatSession(self.url, self.config, self.timeout)
        except Exception as e:  # noqa: BLE001 - counted as an error, the others go on
            self._record(Sample(self.n, "connect", "", False, 0.0, f"{type(e).__name__}: {e}"))
            return
        kinds, weights = list(MIX), list(MIX.values())
        for i in range(self.max_actions):
            if time.monotonic() >= self.deadline:
                break
            kind = self.rng.choices(kinds, weights)[0]
            tag = f"[lt-u{self.n:02d}-{i:04d}]"
            t0 = time.perf_counter()
            try:
                if kind == "ask":
                    client.predict(f"{tag} {self.rng.choice(QUESTIONS)}", api_name="/ask")
                elif kind == "recommend":
                    client.predict(f"{tag} {self.rng.choice(TASKS)}", "", "", "", "", "", 5,
                                   api_name="/recommend")
                elif kind == "explain":
                    client.predict(f"{tag} {self.rng.choice(OUTPUTS)}", "",
                                   api_name="/explain_output")
                else:
                    index = chat.ask(f"{tag} {self.rng.choice(QUESTIONS)}")
                self._record(Sample(self.n, kind, tag, True, (time.perf_counter() - t0) * 1000))
                if kind == "chat" and self.rng.random() < self.share:
                    liked = self.rng.random() < 0.6
                    t1 = time.perf_counter()
                    note = chat.like(index, liked)
                    ok = "Thanks" in note
                    self._record(Sample(self.n, "feedback", tag, ok,
                                        (time.perf_counter() - t1) * 1000,
                                        "" if ok else f"unexpected note {note!r}", liked))
            except Exception as e:  # noqa: BLE001 - every failure is a data point
                self._record(Sample(self.n, kind, tag, False, (time.perf_counter() - t0) * 1000,
                                    f"{type(e).__name__}: {e}"))
            time.sleep(self.rng.uniform(*self.think))
        chat.close()
        client.close()


def run_load(url: str, users: int = DEFAULT_USERS, duration_s: float = DEFAULT_DURATION_S,
             max_actions: int = DEFAULT_MAX_ACTIONS, think: tuple[float, float] = DEFAULT_THINK_S,
             feedback_share: float = DEFAULT_FEEDBACK_SHARE,
             timeout: float = DEFAULT_REQUEST_TIMEOUT_S, seed: int = 0,
             client: str = "http") -> LoadResult:
    """Run ``users`` simulated users against ``url`` for ``duration_s`` seconds; API
    calls through ``client`` (see :func:`make_api_client`)."""
    import httpx

    check_loopback(url)
    config = httpx.get(url.rstrip("/") + "/config", timeout=30).json()
    samples: list[Sample] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    deadline = t0 + duration_s
    threads = [User(n, url, config, deadline, max_actions, think, feedback_share, timeout,
                    samples, lock, seed * 1000 + n, client) for n in range(users)]
    for t in threads:
        t.start()
    for t in threads:  # a user finishes its last action after the deadline
        t.join(timeout=duration_s + timeout + 30)
    return LoadResult(samples=list(samples), seconds=time.monotonic() - t0, users=users)


# --- the lost-rows check -------------------------------------------------------------------
def check_log(result: LoadResult, log_db: Path, settle_s: float = 10.0) -> dict[str, Any]:
    """Compare the client's answers and clicks with the query log's rows (by tag).

    ``lost`` = answers without a row; ``duplicated`` = tags with more than one row;
    ``wrong_kind`` = rows whose kind differs; ``feedback_lost`` = clicks whose value is
    not in the row. Retries for ``settle_s`` (the app writes rows after answering)."""
    want_kind = {"ask": "ask", "chat": "ask", "recommend": "recommend", "explain": "explain"}
    answers = {s.tag: s for s in result.samples if s.ok and s.kind in want_kind}
    clicks = {s.tag: s.liked for s in result.samples if s.ok and s.kind == "feedback"}
    deadline = time.monotonic() + settle_s
    while True:
        con = sqlite3.connect(f"file:{log_db}?mode=ro", uri=True, timeout=10)
        try:
            rows = con.execute("SELECT question, kind, status, feedback FROM queries").fetchall()
        finally:
            con.close()
        by_tag: dict[str, list[tuple]] = {}
        for q, kind, status, fb in rows:
            if q.startswith("[lt-u"):
                by_tag.setdefault(q.split("]", 1)[0] + "]", []).append((kind, status, fb))
        lost = sorted(t for t in answers if t not in by_tag)
        dup = sorted(t for t, rs in by_tag.items() if len(rs) > 1)
        wrong = sorted(t for t, s in answers.items() if t in by_tag and
                       (by_tag[t][0][0] != want_kind[s.kind] or by_tag[t][0][1] != "answered"))
        fb_lost = sorted(t for t, liked in clicks.items() if t not in by_tag or
                         by_tag[t][0][2] != ("like" if liked else "dislike"))
        unexpected = sorted(t for t in by_tag if t not in answers and
                            any(st == "answered" for _, st, _ in by_tag[t]))
        done = not (lost or fb_lost)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {
        "answers": len(answers), "rows_tagged": sum(len(v) for v in by_tag.values()),
        "rows_total": len(rows), "feedback_clicks": len(clicks),
        "lost": len(lost), "duplicated": len(dup), "wrong_kind_or_status": len(wrong),
        "feedback_lost": len(fb_lost),
        "rows_for_failed_requests": len(unexpected),  # answered server-side, client timed out
        "examples": {"lost": lost[:5], "duplicated": dup[:5], "wrong": wrong[:5],
                     "feedback_lost": fb_lost[:5]},
    }


# --- starting the app ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_app(index_dir: Path, log_db: Path, extra_env: dict[str, str] | None = None,
              cmd: list[str] | None = None) -> tuple[subprocess.Popen, str, Path]:
    """Start ``python app.py`` (or ``cmd``) on a free loopback port, serving ``index_dir``
    with the log beside ``log_db``; returns (process, URL, log file) without waiting."""
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "ADVISOR_INDEX_DIR": str(index_dir), "ADVISOR_LOG_DB": str(log_db),
           "ADVISOR_AUTO_BUILD": "0", "ADVISOR_RATE_LIMIT": "0", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", **(extra_env or {})}
    log_path = log_db.parent / "app.log"
    with open(log_path, "w") as logf:  # the child keeps its own handle
        proc = subprocess.Popen(cmd or [sys.executable, "app.py"], cwd=REPO, env=env,
                                stdout=logf, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}/", log_path


def start_app(index_dir: Path, log_db: Path, extra_env: dict[str, str] | None = None,
              ready_timeout: float = DEFAULT_READY_TIMEOUT_S) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free loopback port, serving ``index_dir``; waits until the
    engine answers (the readiness probe is logged untagged and ignored by the check)."""
    proc, url, log_path = spawn_app(index_dir, log_db, extra_env)
    t0 = time.monotonic()
    while time.monotonic() - t0 < ready_timeout:
        if proc.poll() is not None:
            raise SystemExit(f"error: app.py exited {proc.returncode}; see {log_path}")
        try:
            from gradio_client import Client

            Client(url, verbose=False).predict("ping: what is a model card?", api_name="/ask")
            log.info("app ready after %.1f s", time.monotonic() - t0)
            return proc, url
        except Exception as e:  # noqa: BLE001 - not up yet, or the engine is still loading
            log.debug("waiting for the app: %s", e)
            time.sleep(2.0)
    proc.terminate()
    raise SystemExit(f"error: the app was not ready after {ready_timeout:.0f} s; see {log_path}")


class MemorySampler(threading.Thread):
    """Samples the app process's RSS once a second while the load runs."""

    def __init__(self, pid: int, every_s: float = 1.0):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid, self.every_s = pid, every_s
        self.samples: list[int] = []
        self._halt = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(rss_bytes(self.pid))
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def summary(self) -> dict[str, float]:
        s = [x for x in self.samples if x] or [0]
        third = max(1, len(s) // 3)
        return {"start": round(mib(s[0]), 1), "max": round(mib(max(s)), 1),
                "end": round(mib(s[-1]), 1),
                "first_third_max": round(mib(max(s[:third])), 1),
                "last_third_max": round(mib(max(s[-third:])), 1)}


def report_markdown(summary: dict[str, Any], check: dict[str, Any]) -> str:
    rows = [{"action": k, "ok": v["ok"], "errors": v["errors"], "p50 ms": v["p50"],
             "p95 ms": v["p95"], "p99 ms": v["p99"]} for k, v in summary["by_kind"].items()]
    lat = summary["latency_ms"]
    rows.append({"action": "all answers", "ok": summary["answers"], "errors": summary["errors"],
                 "p50 ms": lat["p50"], "p95 ms": lat["p95"], "p99 ms": lat["p99"]})
    return "\n".join([
        md_table(rows),
        "",
        f"{summary['users']} users, {summary['seconds']} s: {summary['answers']} answers "
        f"({summary['throughput_answers_per_s']} answers/s), {summary['feedback_clicks']} "
        f"feedback clicks, error rate {summary['error_rate']:.2%}.",
        f"Query log: {check['answers']} answers -> lost {check['lost']}, duplicated "
        f"{check['duplicated']}, wrong kind/status {check['wrong_kind_or_status']}; "
        f"{check['feedback_clicks']} clicks -> feedback lost {check['feedback_lost']}.",
        *([f"App RSS (MiB): {summary['app_rss_mib']}"] if "app_rss_mib" in summary else []),
        *([f"CPU: app {summary['app_cpu_s']} s ({summary['app_cpu_ms_per_answer']} ms per "
           f"answer or click), load generator ({summary['client']}) "
           f"{summary['load_generator_cpu_s']} s"] if "app_cpu_s" in summary else []),
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running app on 127.0.0.1 (needs --log-db)")
    p.add_argument("--log-db", type=Path, help="the running app's query log (with --url)")
    p.add_argument("--index-dir", type=Path, default=REPO / "index",
                   help="index for the app this script starts (default: index/)")
    p.add_argument("--users", type=int, default=DEFAULT_USERS)
    p.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds")
    p.add_argument("--max-actions", type=int, default=DEFAULT_MAX_ACTIONS, help="per user")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--client", choices=("http", "gradio_client"), default="http",
                   help="how API calls are made: Gradio's plain HTTP API (light) or "
                        "gradio_client (~1 core of CPU for 20 users on its own)")
    p.add_argument("--name", default="load", help="result file bench/out/<name>.json")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    proc = None
    if args.url:
        if not args.log_db:
            p.error("--url needs --log-db (the lost-rows check reads it)")
        url, log_db = args.url, args.log_db
        check_loopback(url)
    else:
        if not (args.index_dir / "manifest.json").exists():
            p.error(f"no index at {args.index_dir}; build one with `python -m builder build`")
        tmp = Path(tempfile.mkdtemp(prefix="advisor-load-"))
        log_db = tmp / "querylog.sqlite"
        proc, url = start_app(args.index_dir, log_db)
    memory = MemorySampler(proc.pid) if proc is not None else None
    app_cpu0 = cpu_seconds(proc.pid) if proc is not None else None
    own_cpu0 = cpu_seconds()
    try:
        result = run_load(url, args.users, args.duration, args.max_actions, seed=args.seed,
                          client=args.client)
        summary = result.summary()
        summary["client"] = args.client
        summary["load_generator_cpu_s"] = round(cpu_seconds() - own_cpu0, 1)
        if app_cpu0 is not None:
            app_cpu = cpu_seconds(proc.pid) - app_cpu0
            summary["app_cpu_s"] = round(app_cpu, 1)
            summary["app_cpu_ms_per_answer"] = round(
                1000 * app_cpu / max(1, summary["answers"] + summary["feedback_clicks"]), 1)
        check = check_log(result, log_db)
    finally:
        if memory is not None:
            memory.stop()
            summary_memory = memory.summary()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    manifest = {}
    if not args.url:
        manifest = json.loads((args.index_dir / "manifest.json").read_text())
    if memory is not None:
        summary["app_rss_mib"] = summary_memory
    payload = {"machine": machine_info(), "summary": summary, "log_check": check,
               "index": {"dir": str(args.index_dir), "counts": manifest.get("counts"),
                         "embed_model": manifest.get("embed_model")}}
    path = write_result(args.name, payload)
    print(report_markdown(summary, check))
    print(f"\nwritten: {path}")
    clean = summary["errors"] == 0 and check["lost"] == 0 and check["feedback_lost"] == 0 \
        and check["duplicated"] == 0
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
