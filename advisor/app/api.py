"""The public API: three endpoints that are also MCP tools, and how to call them.

:func:`api_functions` returns plain functions whose names, type hints and ``Args:``
docstrings are what Gradio's API page and the MCP tool list show (``/ask``,
``/recommend``, ``/explain_output``); each only calls its :class:`AdvisorApp` handler.
:func:`embed_snippets` writes the Embed & API tab for the visitor's own host
(:func:`base_url`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gradio as gr

from advisor.app.handlers import DEFAULT_K, AdvisorApp

DEFAULT_SPACE_URL = "https://<owner>-<space>.hf.space"  # replaced by the visitor's host
DEFAULT_WIDGET_PATH = "widget"


def api_functions(app: AdvisorApp) -> list[Callable]:
    """Plain functions with the names, hints and docstrings that the API docs and the
    MCP tool list show (gradio reads ``__name__``, type hints and ``Args:``)."""

    def ask(question: str, request: gr.Request = None) -> tuple[str, dict]:  # type: ignore[assignment]
        """Answer a beginner's question about reusing a pre-trained Hugging Face model.

        Names the challenge category of the SANER 2024 taxonomy, the usual causes, the
        steps to try, recommended models when relevant, and cites the forum threads,
        model cards and taxonomy entries used.

        Args:
            question: the question in plain words, e.g. "Which model should I use for German sentiment analysis?" or "My classifier returns LABEL_1, what does it mean?"

        Returns:
            The answer as markdown (with a Sources list) and the structured advice (categories, confidence, models, citations).
        """
        return app.ask(question, request=request)

    def recommend(
        task: str,
        pipeline_tag: str = "",
        language: str = "",
        license_family: str = "",
        max_parameters: str = "",
        library: str = "",
        k: int = DEFAULT_K,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> list[dict]:
        """Recommend Hugging Face Hub models for a task, ranked by fit, popularity and card quality.

        Args:
            task: what the model should do, in plain words, e.g. "small model for Spanish named entity recognition on CPU".
            pipeline_tag: optional Hub task tag, e.g. "text-classification"; empty to infer it from the text.
            language: optional language code, e.g. "de".
            license_family: optional licence filter: "oss", "non-commercial", "unknown", or empty for any.
            max_parameters: optional size limit such as "350M" or "7B"; empty for none.
            library: optional library, e.g. "transformers" or "sentence-transformers".
            k: how many models to return (1-50).

        Returns:
            A list of models, best first, each with downloads, likes, licence, card quality, missing card sections and a ready-to-run snippet.
        """
        filters = {
            "task": pipeline_tag or None,
            "language": language or None,
            "license_family": license_family or None,
            "max_parameters": max_parameters or None,
            "library": library or None,
            "k": k,
        }
        return [dataclasses.asdict(r) for r in app.recommend(task, filters, request)]

    def explain_output(
        output: str, model_id: str = "", request: gr.Request = None
    ) -> tuple[str, dict]:  # type: ignore[assignment]
        """Explain a model output or error message a beginner pasted.

        Recognises label ids (LABEL_0/LABEL_1), logits, scores, garbled generations and
        common errors (out of memory, shape mismatch, missing tokenizer) and says what
        they mean and what to do, with citations.

        Args:
            output: the pasted output or traceback, e.g. "[{'label': 'LABEL_1', 'score': 0.97}]".
            model_id: optional Hub model id that produced it, e.g. "distilbert-base-uncased-finetuned-sst-2-english", to read its label map.

        Returns:
            The explanation as markdown and the structured explanation (detected kinds, label map, citations).
        """
        return app.explain_output(output, model_id, request=request)

    return [ask, recommend, explain_output]


def embed_snippets(base: str) -> str:
    widget = f"{base.rstrip('/')}/{DEFAULT_WIDGET_PATH}"
    return f"""
### Embed the advisor in your page

**Web component** (loads the full app; see Gradio's embedding guide):
```html
<script type="module" src="https://gradio.s3-us-west-2.amazonaws.com/{gr.__version__}/gradio.js"></script>
<gradio-app src="{base}" initial_height="640px"></gradio-app>
```

**Compact chat widget** (chat only) in an iframe:
```html
<iframe src="{widget}" width="100%" height="600" style="border:0" title="Reuse Advisor"></iframe>
```
Open [{widget}]({widget}) to see it.

### Call it from Python (`pip install gradio_client`)
```python
from gradio_client import Client

client = Client("{base}")
answer, advice = client.predict("Which model for German sentiment analysis?", api_name="/ask")
print(advice["categories"][0]["category"], [c["url"] for c in advice["citations"]])

models = client.predict("small model for Spanish NER on CPU", "", "es", "oss", "500M", "", 5,
                        api_name="/recommend")
print(models[0]["model_id"], models[0]["snippet"])

text, explanation = client.predict("[{{'label': 'LABEL_1', 'score': 0.97}}]", "",
                                   api_name="/explain_output")
```

### Use it as MCP tools
The same three functions are MCP tools at `{base.rstrip("/")}/gradio_api/mcp/` (streamable HTTP):
```json
{{"mcpServers": {{"reuse-advisor": {{"url": "{base.rstrip("/")}/gradio_api/mcp/"}}}}}}
```
"""


def base_url(request: gr.Request | None) -> str:
    if request is None:
        return DEFAULT_SPACE_URL
    headers = getattr(request, "headers", {}) or {}
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return DEFAULT_SPACE_URL
    proto = headers.get("x-forwarded-proto") or (
        "http" if host.startswith(("127.", "localhost")) else "https"
    )
    return f"{proto}://{host}"
