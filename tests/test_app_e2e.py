"""The app end to end.

Fast part: the real Gradio app (``advisor.app.layout.build_demo``) with an invented fake engine,
launched in-process on a loopback port and called through ``gradio_client``: named
endpoints, structured results, refusals logged, private UI handlers, MCP tool list,
widget page; plus the chat handler (streaming, Sources message, like/dislike) and the
engine holder's auto-build.

Slow part (``e2e``): ``python app.py`` in a subprocess with the real packaged MiniLM on
a small real index built with ``python -m builder build --limit 300``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from advisor.compose import sources_section
from advisor.config import Config
from advisor.errors import IndexNotFoundError
from advisor.maintainers.querylog import QueryLog
from advisor.types import (
    Advice,
    CategoryScore,
    Citation,
    Explanation,
    ModelRecommendation,
    Request,
)
from tests.conftest import SESSION_CACHE

REPO = Path(__file__).resolve().parents[1]
MCP_TOOLS = {"ask", "recommend", "explain_output"}
READY_TIMEOUT_S = 150  # app start (MiniLM load) on 2 busy cores, with margin


class FakeAdvisor:
    """Invented answers with the real Advisor's methods and return types."""

    def __init__(self, cfg=None, index=None):
        self.histories: list = []

    @staticmethod
    def _rec(i: int) -> ModelRecommendation:
        return ModelRecommendation(
            model_id=f"acme/model-{i}",
            score=1 - i / 10,
            pipeline_tag="text-classification",
            library="transformers",
            downloads=1000 * (5 - i),
            likes=10 - i,
            license="apache-2.0",
            license_family="oss",
            parameters=66_000_000,
            card_quality=0.5,
            missing_sections=["evaluation"],
            source="2026",
            snippet=f'pipeline("text-classification", model="acme/model-{i}")',
            url=f"https://huggingface.co/acme/model-{i}",
        )

    def advise(self, question, history=None, filters=None):
        if isinstance(question, Request):  # what the app passes: checked once
            question, history = question.text, question.history
        self.histories.append(history)
        cites = [
            Citation("thread", "thread:1", "https://discuss.huggingface.co/t/1", "Invented thread"),
            Citation("model", "model:acme/model-0", "https://huggingface.co/acme/model-0"),
        ]
        body = f"Invented answer to {question[:20]}."
        return Advice(
            question=question,
            answer=f"{body}\n\n{sources_section(cites)}",
            categories=[CategoryScore("Memory & Performance", "", 0.7)],
            confidence=0.7,
            unsure=False,
            models=[self._rec(0)],
            citations=cites,
            intent="challenge",
            sections=[body],
        )

    def llm(self):  # streams in pieces, as an LLM backend does
        return "invented-llm"

    def stream(self, question, history=None):
        adv = self.advise(question, history)
        yield "Invented", None
        yield "Invented answer", None
        yield adv.answer, adv

    def recommend(self, text, filters=None, k=5):
        return [self._rec(i) for i in range(min(k, 3))]

    def explain_output(self, text, model_id=None):
        if isinstance(text, Request):
            text, model_id = text.text, text.model_id
        return Explanation(
            text=text,
            kinds=["label_ids"],
            answer="LABEL_1 is the second class.",
            label_map={"LABEL_1": "positive"},
            model_id=model_id,
            citations=[Citation("taxonomy", "t", "https://discuss.huggingface.co/t/2", "T")],
            categories=[CategoryScore("Incomprehensible output", "", 0.8)],
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_app(tmp_path, corpus_dir):
    from advisor.app.layout import build_demo

    cfg = Config(log_db=str(tmp_path / "log.sqlite"), corpus_dir=corpus_dir, rate_limit_per_min=0)
    demo = build_demo(cfg, advisor_factory=FakeAdvisor)
    assert demo.advisor_app.holder.wait(10)
    port = _free_port()
    demo.queue().launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        mcp_server=True,
    )
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_api_endpoints_with_fake_engine(fake_app):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    demo, url = fake_app
    client = Client(url, verbose=False)
    endpoints = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert endpoints == {"/ask", "/recommend", "/explain_output"}  # UI handlers are private

    answer, advice = client.predict("How do I fix CUDA out of memory?", api_name="/ask")
    assert answer.count("### Sources") == 1  # not appended twice
    assert advice["categories"][0]["category"] == "Memory & Performance"
    assert advice["citations"][0]["url"].startswith("https://discuss.huggingface.co/t/")
    assert "hits" not in advice

    models = client.predict(
        "german sentiment", "", "de", "oss", "350M", "", 2, api_name="/recommend"
    )
    assert [m["model_id"] for m in models] == ["acme/model-0", "acme/model-1"]
    assert models[0]["snippet"]

    text, expl = client.predict("[{'label': 'LABEL_1'}]", "acme/x", api_name="/explain_output")
    assert "LABEL_1" in text and "### Sources" in text
    assert expl["label_map"] == {"LABEL_1": "positive"} and expl["model_id"] == "acme/x"

    with pytest.raises(AppError, match="type a question"):
        client.predict("   ", api_name="/ask")
    with pytest.raises(AppError, match="max_parameters"):
        client.predict("x", "", "", "", "lots", "", 5, api_name="/recommend")
    client.predict("still serving?", api_name="/ask")  # the app keeps serving

    rows = demo.advisor_app.qlog.rows()
    statuses = [(r["kind"], r["status"]) for r in rows]
    assert statuses == [
        ("ask", "answered"),
        ("recommend", "answered"),
        ("explain", "answered"),
        ("ask", "refused"),
        ("recommend", "refused"),
        ("ask", "answered"),
    ]
    assert "InvalidInputError" in rows[3]["reason"]
    assert rows[1]["models"] == ["acme/model-0", "acme/model-1"]
    assert rows[0]["category"] == "Memory & Performance" and rows[0]["session"]


def test_plain_http_api_calls_keep_bounded_session_state(tmp_path, corpus_dir):
    """Every plain HTTP API call (curl, the load test's client) is a new Gradio session
    with its own copy of the components' state; the app keeps at most
    ``cfg.state_sessions`` of them (Gradio's default, 10,000, grew the app ~200 KiB a
    call), oldest dropped, and answers go on."""
    import httpx

    from advisor.app.layout import build_demo, launch_kwargs

    cfg = Config(log_db=str(tmp_path / "log.sqlite"), corpus_dir=corpus_dir,
                 rate_limit_per_min=0, state_sessions=5)
    demo = build_demo(cfg, advisor_factory=FakeAdvisor)
    assert demo.advisor_app.holder.wait(10)
    port = _free_port()
    kwargs = launch_kwargs(cfg)
    assert kwargs["state_session_capacity"] == 5
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                        quiet=True, state_session_capacity=kwargs["state_session_capacity"])
    url = f"http://127.0.0.1:{port}/gradio_api/call/ask"
    try:
        with httpx.Client(timeout=30) as http:
            for i in range(12):
                event = http.post(url, json={"data": [f"question {i} about CUDA memory"]})
                body = http.get(f"{url}/{event.json()['event_id']}").text
                assert "event: complete" in body and f"Invented answer to question {i}" in body
        assert 0 < len(demo.state_holder.session_data) <= 5
        assert len(demo.advisor_app.qlog.rows()) == 12
    finally:
        demo.close()


def test_mcp_tools_and_widget_page(fake_app):
    _, url = fake_app
    tools = httpx.get(url + "gradio_api/mcp/schema", timeout=10).json()
    by_name = {t["name"]: t for t in tools}
    assert set(by_name) == MCP_TOOLS
    props = by_name["recommend"]["inputSchema"]["properties"]
    assert "350M" in props["max_parameters"]["description"]
    assert by_name["ask"]["inputSchema"]["required"] == ["question"]
    assert httpx.get(url + "widget", timeout=10).status_code == 200


def _like(index: int, liked: bool):
    return SimpleNamespace(index=index, liked=liked, value=None)


def test_chat_streams_sources_and_feedback(tmp_path):
    from advisor.app.handlers import AdvisorApp
    from advisor.app.lifecycle import EngineHolder

    cfg = Config(log_db=str(tmp_path / "log.sqlite"))
    fake = FakeAdvisor()
    holder = EngineHolder(cfg, factory=lambda c: fake).start()
    assert holder.wait(10)
    app = AdvisorApp(cfg, holder=holder, querylog=QueryLog(cfg))
    req = SimpleNamespace(session_hash="s1")
    steps = list(app.respond("How do I fix OOM?", [], {}, req))
    assert len(steps) >= 3  # placeholder, partials, final
    history, box, panel, rows = steps[-1]
    assert box == ""
    assert [m["role"] for m in history] == ["user", "assistant", "assistant"]
    assert "### Sources" not in history[1]["content"]
    assert history[2]["metadata"]["title"].startswith("📚 Sources")
    assert "discuss.huggingface.co/t/1" in history[2]["content"]
    assert "Memory & Performance" in panel and "70%" in panel
    assert rows == {"1": 1, "2": 1}

    # a follow-up passes the conversation (without the sources panel) to the engine
    steps = list(app.respond("and a smaller one?", history, rows, req))
    assert fake.histories[-1] == [
        {"role": "user", "content": "How do I fix OOM?"},
        {"role": "assistant", "content": history[1]["content"]},
    ]
    rows = steps[-1][3]
    assert rows["4"] == 2

    assert "Thanks" in app.on_like(rows, _like(2, False))
    app.on_like(rows, _like(1, True))  # a second click on the same answer changes it
    app.on_like(rows, _like(4, False))
    assert "answers only" in app.on_like(rows, _like(0, True))
    got = {r["id"]: r["feedback"] for r in app.qlog.rows()}
    assert got == {1: "like", 2: "dislike"}


def test_chat_history_stays_bounded_and_likes_follow(tmp_path):
    """A long chat keeps its last ``cfg.chat_messages`` messages, cut before a question,
    and the like buttons still reach the right log rows after the cut."""
    from advisor.app.handlers import AdvisorApp, bound_chat
    from advisor.app.lifecycle import EngineHolder

    cfg = Config(log_db=str(tmp_path / "log.sqlite"), chat_messages=7)
    fake = FakeAdvisor()
    holder = EngineHolder(cfg, factory=lambda c: fake).start()
    assert holder.wait(10)
    app = AdvisorApp(cfg, holder=holder, querylog=QueryLog(cfg))
    req = SimpleNamespace(session_hash="s2")
    history, rows = [], {}
    for i in range(6):  # 3 messages a turn: question, answer, sources
        history, _, _, rows = list(app.respond(f"question number {i}", history, rows, req))[-1]
        assert len(history) <= 7 and history[0]["role"] == "user"
    assert [m["content"] for m in history if m["role"] == "user"] == [
        "question number 4", "question number 5"]
    assert rows == {"1": 5, "2": 5, "4": 6, "5": 6}  # re-indexed to the kept messages
    assert "Thanks" in app.on_like(rows, _like(4, True))
    assert {r["id"]: r["feedback"] for r in app.qlog.rows()}[6] == "like"
    # unbounded when the limit is 0; a cut never starts with an answer
    assert bound_chat(history, rows, 0) == (history, rows)
    short, short_rows = bound_chat(history, rows, 2)  # shorter than a turn: the last turn
    assert short == history[-3:] and short_rows == {"1": 6, "2": 6}


def test_holder_builds_missing_index_quick_then_full(tmp_path):
    from advisor.app.lifecycle import EngineHolder

    cfg = Config(index_dir=tmp_path / "idx", auto_build=True, auto_build_limit=50)
    built: list = []

    def factory(c):
        if not built:
            raise IndexNotFoundError("No index (invented)")
        return FakeAdvisor()

    holder = EngineHolder(cfg, factory=factory, builder=lambda c, limit: built.append(limit))
    with pytest.raises(IndexNotFoundError, match="starting|try again"):
        holder.get() if not holder.start().wait(0) else None
        raise IndexNotFoundError("starting")
    assert holder.wait(10)
    holder._thread.join(10)
    assert built == [50, None]
    assert holder.state == "ready" and holder.status_markdown() == ""


def test_holder_without_auto_build_reports_failure(tmp_path):
    from advisor.app.lifecycle import EngineHolder

    cfg = Config(index_dir=tmp_path / "idx", auto_build=False)

    def factory(c):
        raise IndexNotFoundError(f"No index at {c.index_dir}. Run `python -m builder build`.")

    holder = EngineHolder(cfg, factory=factory).start()
    assert not holder.wait(10)
    assert holder.state == "failed"
    assert "python -m builder build" in holder.status_markdown()
    with pytest.raises(IndexNotFoundError, match="could not start"):
        holder.get()


def test_render_answers_from_structure():
    from advisor.app.render import answer_body, explanation_markdown, sources_message

    cite = Citation("thread", "thread:9", "https://discuss.huggingface.co/t/9", "T9")
    advice = FakeAdvisor().advise("How do I fix OOM?")
    assert answer_body(advice) == "Invented answer to How do I fix OOM?."
    msg = sources_message([cite])
    assert msg["content"] == "1. [T9](https://discuss.huggingface.co/t/9) (thread)"
    assert msg["metadata"]["title"] == "📚 Sources (1)"
    assert sources_message([]) is None
    expl = FakeAdvisor().explain_output("LABEL_1")
    assert explanation_markdown(expl).count("### Sources") == 1


# --- the real app, real MiniLM, small real index -----------------------------------------
E2E_INDEX_DIR = "e2e-index"  # under the session's base temp dir: built once, shared
E2E_LIMIT = 300  # cards per source: a real but quick index
E2E_BUILD_TIMEOUT_S = 1200  # a guard against a hung build, not a speed budget (bench.build
# times builds): the session's first build embeds every training text, ~4 minutes on an idle
# 2-core box and over 10 when the box is shared


def build_small_index(corpus_dir: Path, base: Path) -> Path:
    """Build (once per test session) a small real index with the builder CLI."""
    out = Path(base) / E2E_INDEX_DIR
    if (out / "manifest.json").exists():
        return out
    # the session's cache dir (set here too: session fixtures run before _isolate_env)
    env = {**os.environ, "ADVISOR_DISABLE_PROGRESS": "1", "HF_HUB_OFFLINE": "1",
           "ADVISOR_CACHE_DIR": str(Path(base) / SESSION_CACHE)}
    cmd = [sys.executable, "-m", "builder", "build", "--limit", str(E2E_LIMIT)]
    cmd += ["--index-dir", str(out), "--corpus-dir", str(corpus_dir)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=E2E_BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def built_index(corpus_dir, tmp_path_factory) -> Path:
    return build_small_index(corpus_dir, tmp_path_factory.getbasetemp())


def start_app(index_dir: Path, log_db: Path, corpus_dir: Path):
    """Start ``python app.py`` on a free loopback port; return (process, url)."""
    port = _free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "ADVISOR_INDEX_DIR": str(index_dir),
        "ADVISOR_LOG_DB": str(log_db),
        "ADVISOR_CORPUS_DIR": str(corpus_dir),
        "ADVISOR_AUTO_BUILD": "0",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}/"


def wait_ready(proc, url: str, timeout: float = READY_TIMEOUT_S) -> float:
    """Poll until /ask answers (engine loaded); return seconds taken."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    t0 = time.perf_counter()
    client = None
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"app.py exited {proc.returncode}: {proc.stdout.read()[-3000:]}")
        try:
            client = client or Client(url, verbose=False)
            client.predict("ping: what is a model card?", api_name="/ask")
            return time.perf_counter() - t0
        except AppError as e:
            if "starting" not in str(e):
                raise
        except Exception:  # noqa: BLE001 - server not up yet
            pass
        time.sleep(1.0)
    raise AssertionError(f"app not ready after {timeout} s")


@contextmanager
def served_app(index_dir: Path, log_db: Path, corpus_dir: Path):
    """``python app.py`` serving ``index_dir``, ready: yields (process, url, ready seconds)."""
    proc, url = start_app(index_dir, log_db, corpus_dir)
    try:
        yield proc, url, wait_ready(proc, url)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def running_app(built_index, corpus_dir, tmp_path_factory):
    log_db = tmp_path_factory.mktemp("e2e-log") / "querylog.sqlite"
    with served_app(built_index, log_db, corpus_dir) as (proc, url, seconds):
        yield SimpleNamespace(url=url, log_db=log_db, ready_seconds=seconds, proc=proc)


@pytest.mark.slow
@pytest.mark.e2e
def test_real_app_endpoints(running_app):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(running_app.url, verbose=False)
    answer, advice = client.predict(
        "I get CUDA out of memory when fine-tuning BERT. What can I do?", api_name="/ask"
    )
    assert advice["categories"], advice
    from advisor.taxonomy import CHALLENGE_CATEGORIES

    assert advice["categories"][0]["category"] in CHALLENGE_CATEGORIES
    assert 0.0 <= advice["confidence"] <= 1.0
    assert advice["citations"] and all(c["url"].startswith("https://") for c in advice["citations"])
    assert "### Sources" in answer

    models = client.predict(
        "sentiment analysis of English movie reviews", "", "", "", "", "", 3, api_name="/recommend"
    )
    assert 1 <= len(models) <= 3
    assert all(m["model_id"] and m["snippet"] for m in models)

    text, expl = client.predict(
        "[{'label': 'LABEL_1', 'score': 0.9731}]", "", api_name="/explain_output"
    )
    assert "label_ids" in expl["kinds"] or "LABEL_1" in text
    assert expl["citations"]

    with pytest.raises(AppError):
        client.predict("", api_name="/ask")
    rows = QueryLog(Config(log_db=str(running_app.log_db))).rows()
    assert any(
        r["status"] == "refused" and r["reason"].startswith("InvalidInputError") for r in rows
    )
    assert {r["kind"] for r in rows} >= {"ask", "recommend", "explain"}


def test_find_models_and_insights_views(tmp_path, corpus_dir):
    from advisor.app.handlers import AdvisorApp
    from advisor.app.lifecycle import EngineHolder
    from advisor.app.render import RECOMMEND_COLUMNS

    cfg = Config(log_db=str(tmp_path / "log.sqlite"), corpus_dir=corpus_dir)
    holder = EngineHolder(cfg, factory=FakeAdvisor).start()
    assert holder.wait(10)
    app = AdvisorApp(cfg, holder=holder)
    req = SimpleNamespace(session_hash="s2")
    table, snippet, notes, forum = app.find_models(
        "german sentiment", "", "de", "any", "350M", "any", 2, req
    )
    assert list(table.columns) == RECOMMEND_COLUMNS and len(table) == 2
    assert table.iloc[0, 0] == "[acme/model-0](https://huggingface.co/acme/model-0)"
    assert table.iloc[0, 5] == "66M" and table.iloc[0, 6] == "50%"
    assert "acme/model-0" in snippet and "Top pick" in notes
    summary, per_day, recurring, disliked, gaps, download = app.insights_view()
    assert "**1** logged queries: 1 answered" in summary
    assert per_day.empty  # a model search has no challenge category
    value = download.value  # gradio stores the file as a FileData dict
    csv_path = value["path"] if isinstance(value, dict) else value
    assert Path(csv_path).read_text().count("german sentiment") == 1
