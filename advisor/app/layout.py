"""The Gradio layout: five tabs, the widget page, the public endpoints.

:func:`build_demo` returns a ``gr.Blocks`` with five tabs (Ask, Find a model, Explain
my output, Insights, Embed & API), one builder function each, a chat-only page at
``/widget`` for embedding, and the three named endpoints of :mod:`advisor.app.api`
served to ``gradio_client`` and, with ``launch(mcp_server=True)``, as MCP tools. UI
event handlers are private (not in the API docs, not MCP tools). The handlers live in
:mod:`advisor.app.handlers`; this module only places components and wires events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from advisor.app.api import (
    DEFAULT_SPACE_URL,
    DEFAULT_WIDGET_PATH,
    api_functions,
    base_url,
    embed_snippets,
)
from advisor.app.handlers import DEFAULT_K, AdvisorApp
from advisor.app.lifecycle import EngineHolder, Factory
from advisor.app.render import RECOMMEND_COLUMNS, RECOMMEND_TYPES
from advisor.config import Config
from advisor.maintainers import trends
from advisor.maintainers.querylog import QueryLog
from advisor.tasks import TASKS

TITLE = "Reuse Advisor"
DEFAULT_CHAT_HEIGHT = 520  # px: room for an answer plus its sources on a laptop screen
DEFAULT_WIDGET_HEIGHT = 460  # px: fits a 600 px iframe with the input box
LICENCE_CHOICES = ["any", "oss", "non-commercial", "unknown"]
LIBRARY_CHOICES = [
    "any",
    "transformers",
    "sentence-transformers",
    "diffusers",
    "timm",
    "peft",
    "gguf",
    "onnx",
]
EXAMPLE_QUESTIONS = [
    "Which model should I use for sentiment analysis of German product reviews?",
    "My classifier returns LABEL_0 and LABEL_1. What do they mean?",
    "OSError: Can't load tokenizer for 'my-model'. What am I doing wrong?",
    "CUDA out of memory when fine-tuning BERT on Colab. How do I fix it?",
    "How do I fine-tune a model on my own dataset?",
]
EXAMPLE_OUTPUTS = [
    ["[{'label': 'LABEL_1', 'score': 0.9731}]", "distilbert-base-uncased"],
    ["RuntimeError: CUDA out of memory. Tried to allocate 64.00 MiB", ""],
    [
        "ValueError: Unrecognized configuration class for this kind of AutoModel: "
        "AutoModelForSequenceClassification",
        "",
    ],
]
CSS = """
#advisor-header h1 {margin-bottom: 0.2em}
#category-panel {min-height: 8em}
.widget-page {max-width: 760px; margin: auto}
/* gr.Navbar(visible=False) is ignored by the 6.31 frontend; the widget page must not
   show a navbar, and the main page has nothing to navigate to */
.nav-holder {display: none !important}
"""

FIND_WIDTHS = ["22%", "12%", "8%", "6%", "8%", "7%", "7%", "14%", "16%"]
PRIVATE = {"api_visibility": "private"}  # UI events: not in the API docs, not MCP tools


def _example_text(data: gr.SelectData) -> str:
    """The clicked example question (chatbot examples are ``{"text": ...}``)."""
    value = data.value
    return value.get("text", "") if isinstance(value, dict) else str(value)


def _chat_panel(app: AdvisorApp, compact: bool) -> None:
    """The chat: a chatbot with thumbs, an input, examples; streams via app.respond."""
    rows = gr.State({})
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Reuse Advisor",
                height=DEFAULT_WIDGET_HEIGHT if compact else DEFAULT_CHAT_HEIGHT,
                feedback_options=("Like", "Dislike"),
                buttons=["copy"],
                placeholder=(
                    "**Ask about reusing a pre-trained model.** Which model to pick, what an "
                    "output means, why loading or fine-tuning fails."
                ),
                examples=[{"text": q} for q in EXAMPLE_QUESTIONS[: 3 if compact else 5]],
                elem_id="widget-chat" if compact else "ask-chat",
                layout="bubble",
            )
            with gr.Row():
                box = gr.Textbox(
                    placeholder="Type your question and press Enter",
                    show_label=False,
                    scale=5,
                    autofocus=not compact,
                    elem_id="widget-input" if compact else "ask-input",
                )
                send = gr.Button("Send", variant="primary", scale=1, min_width=80)
            feedback_note = gr.Markdown("", elem_id="feedback-note")
        with gr.Column(scale=1, min_width=220, visible=not compact):
            panel = gr.Markdown(
                "_The detected challenge category appears here._", elem_id="category-panel"
            )
    outputs = [chatbot, box, panel, rows]
    common = {"api_visibility": "private", "show_progress": "minimal"}
    box.submit(app.respond, [box, chatbot, rows], outputs, **common)
    send.click(app.respond, [box, chatbot, rows], outputs, **common)
    chatbot.example_select(_example_text, None, box, api_visibility="private", queue=False).then(
        app.respond, [box, chatbot, rows], outputs, **common
    )
    chatbot.like(app.on_like, rows, feedback_note, api_visibility="private")


def _trend_plots(cfg: Config) -> None:
    """The study's trend tables as plots, read from the corpus now."""
    if not trends.corpus_available(cfg.corpus_dir):
        gr.Markdown(
            f"ℹ️ The study's trend tables are not available: no corpus at "
            f"`{cfg.corpus_dir}`. Set `ADVISOR_CORPUS_DIR` to the corpus snapshot to see them."
        )
        return
    try:
        counts = trends.category_counts(cfg.corpus_dir)
        mentions = trends.forum_model_mentions(cfg.corpus_dir)
        types = trends.hub_model_types(cfg.corpus_dir)
        ratio = trends.card_ratio(cfg.corpus_dir)
    except Exception as e:  # noqa: BLE001 - the rest of the tab still works
        gr.Markdown(f"⚠️ Could not read the study's trend tables: {e}")
        return
    with gr.Row():
        gr.BarPlot(
            counts[counts["kind"] == "challenge"],
            x="category",
            y="codes",
            title="Challenge codes per category (codebook Overview)",
            x_label_angle=-45,
            height=360,
            sort="-y",
        )
        gr.LinePlot(
            ratio,
            x="month",
            y="card_ratio",
            title="Share of new Hub models with a card",
            height=360,
        )
    with gr.Row():
        gr.LinePlot(
            mentions,
            x="month",
            y="topics",
            color="model",
            title="Forum topics mentioning a model family (top 8)",
            height=360,
        )
        gr.LinePlot(
            types,
            x="month",
            y="models",
            color="model_type",
            title="Hub models created per month by type (top 8)",
            height=360,
        )

def _status_line(holder: EngineHolder) -> gr.Markdown:
    """The build/load status, polled every 2 s until the engine is ready."""
    status = gr.Markdown(holder.status_markdown(), elem_id="build-status")
    timer = gr.Timer(2.0)
    timer.tick(
        lambda: (
            holder.status_markdown(),
            gr.Timer(active=not holder.ready or bool(holder.detail)),
        ),
        None,
        [status, timer],
        queue=False,
        **PRIVATE,
    )
    return status


def _find_tab(app: AdvisorApp) -> None:
    """Find a model: task text plus filters -> ranked table, snippet, notes, forum threads."""
    with gr.Row():
        with gr.Column(scale=2):
            task_text = gr.Textbox(
                label="What should the model do?",
                placeholder="e.g. classify customer e-mails in German by topic, runs on CPU",
                lines=2,
                elem_id="find-task",
            )
        with gr.Column(scale=1):
            tag = gr.Dropdown(
                choices=[("infer from my text", "")] + [(t.title, t.tag) for t in TASKS.values()],
                value="",
                label="Task",
            )
    with gr.Row():
        lang = gr.Textbox(label="Language code", placeholder="e.g. de", max_lines=1)
        lic = gr.Dropdown(LICENCE_CHOICES, value="any", label="Licence family")
        size = gr.Textbox(label="Max parameters", placeholder="e.g. 350M or 7B", max_lines=1)
        lib = gr.Dropdown(LIBRARY_CHOICES, value="any", label="Library")
        k = gr.Slider(1, 20, value=DEFAULT_K, step=1, label="How many")
    find_btn = gr.Button("Find models", variant="primary")
    find_notes = gr.Markdown()
    with gr.Accordion("What people struggled with (forum threads)", open=False):
        forum_md = gr.Markdown()
    table = gr.Dataframe(
        headers=RECOMMEND_COLUMNS,
        datatype=RECOMMEND_TYPES,
        interactive=False,
        wrap=True,
        column_widths=FIND_WIDTHS,
        label="Ranked models",
        elem_id="find-table",
    )
    snippet = gr.Code(label="Try the top pick", language="python", interactive=False)
    gr.Examples(
        [
            ["sentiment of German product reviews"],
            ["small named entity recognition model for Spanish, commercial use"],
            ["sentence embeddings for semantic search on CPU"],
        ],
        [task_text],
    )
    inputs = [task_text, tag, lang, lic, size, lib, k]
    for trigger in (find_btn.click, task_text.submit):
        trigger(app.find_models, inputs, [table, snippet, find_notes, forum_md], **PRIVATE)


def _explain_tab(app: AdvisorApp) -> None:
    """Explain my output: a pasted output or error (and optionally a model id)."""
    with gr.Row():
        out_text = gr.Textbox(
            label="Paste the output or error",
            lines=8,
            placeholder="[{'label': 'LABEL_1', 'score': 0.97}]  or a traceback",
            elem_id="explain-text",
            scale=3,
        )
        with gr.Column(scale=1):
            model_id = gr.Textbox(label="Model id (optional)", placeholder="owner/name", max_lines=1)
            explain_btn = gr.Button("Explain", variant="primary")
    explanation = gr.Markdown(elem_id="explain-answer")
    gr.Examples(EXAMPLE_OUTPUTS, [out_text, model_id])
    explain_btn.click(app.explain_ui, [out_text, model_id], explanation, **PRIVATE)


def _insights_tab(app: AdvisorApp, cfg: Config, tab: gr.Tab) -> None:
    """Insights for maintainers: the query log's views and the study's trend plots."""
    gr.Markdown(
        "For maintainers: what people ask, what the advisor answers badly, and "
        "what to add. Built from the query log (no identities, salted session "
        "hashes only)."
    )
    with gr.Row():
        refresh = gr.Button("Refresh", variant="primary", elem_id="insights-refresh")
        export = gr.DownloadButton("Download the log (CSV)", elem_id="insights-export")
    summary = gr.Markdown(elem_id="insights-summary")
    per_cat = gr.BarPlot(
        x="period",
        y="questions",
        color="category",
        title="Questions per challenge category per day",
        height=320,
    )
    tables = []
    for title, elem_id, widths in (
        ("Recurring questions", "insights-recurring", ["30%", "7%", "17%", "8%", "14%", "24%"]),
        ("Coverage gaps (low confidence, unsure or disliked) and fixes", "insights-gaps",
         ["16%", "9%", "8%", "10%", "27%", "30%"]),
        ("Disliked answers", "insights-disliked", ["15%", "35%", "18%", "10%", "14%", "8%"]),
    ):
        gr.Markdown(f"#### {title}")
        tables.append(gr.Dataframe(wrap=True, interactive=False, elem_id=elem_id,
                                   column_widths=widths))
    recurring, gaps, disliked = tables
    gr.Markdown("### The study's trends (SANER 2024 replication tables)")
    _trend_plots(cfg)
    views = [summary, per_cat, recurring, disliked, gaps, export]
    refresh.click(app.insights_view, None, views, **PRIVATE)
    tab.select(app.insights_view, None, views, **PRIVATE)


def _embed_tab(demo: gr.Blocks) -> None:
    """Embed & API: snippets for the visitor's own host (filled on load and on select)."""
    with gr.Tab("Embed & API", id="embed") as tab:
        embed_md = gr.Markdown(embed_snippets(DEFAULT_SPACE_URL), elem_id="embed-snippets")

    def fill(request: gr.Request) -> str:
        return embed_snippets(base_url(request))

    tab.select(fill, None, embed_md, queue=False, **PRIVATE)
    demo.load(fill, None, embed_md, queue=False, **PRIVATE)


def build_demo(
    cfg: Config,
    advisor_factory: Factory | None = None,
    querylog: QueryLog | None = None,
    builder: Callable[[Config, int | None], Any] | None = None,
    start: bool = True,
) -> gr.Blocks:
    """Build the app; with ``start`` the engine starts loading in the background.

    The returned Blocks carries ``demo.advisor_app`` (the :class:`AdvisorApp`)."""
    holder = EngineHolder(cfg, factory=advisor_factory, builder=builder)
    app = AdvisorApp(cfg, holder=holder, querylog=querylog)

    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        gr.Navbar(visible=False)
        gr.Markdown(
            f"# 🧭 {TITLE}\nGrounded help for reusing pre-trained models from the Hugging "
            "Face Hub, built on the SANER 2024 study of 455 forum threads, its challenge "
            "taxonomy and thousands of model cards. Answers cite their sources.",
            elem_id="advisor-header",
        )
        status = _status_line(holder)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                _chat_panel(app, compact=False)
            with gr.Tab("Find a model", id="find"):
                _find_tab(app)
            with gr.Tab("Explain my output", id="explain"):
                _explain_tab(app)
            with gr.Tab("Insights", id="insights") as insights_tab:
                _insights_tab(app, cfg, insights_tab)
            _embed_tab(demo)
        demo.load(holder.status_markdown, None, status, queue=False, **PRIVATE)
        for fn in api_functions(app):
            gr.api(fn, api_name=fn.__name__, concurrency_id="engine")

    with demo.route("Widget", f"/{DEFAULT_WIDGET_PATH}", show_in_navbar=False):
        gr.Navbar(visible=False)
        with gr.Column(elem_classes=["widget-page"]):
            _chat_panel(app, compact=True)

    demo.advisor_app = app  # type: ignore[attr-defined]
    if start:
        holder.start()
    return demo


def launch_kwargs(cfg: Config) -> dict[str, Any]:
    """Arguments for ``demo.launch`` besides host/port (kept here with the layout)."""
    return {
        "mcp_server": True,
        "css": CSS,
        "theme": gr.themes.Soft(),
        "footer_links": ["api", "gradio"],
        "state_session_capacity": cfg.state_sessions,
    }
