"""Typed records passed between stages (builder -> index -> engine -> app).

Builder stages: sources produce :class:`Document`; the chunker turns them into
:class:`Chunk`; the store writes chunks plus the structured side tables
(:class:`ModelInfo`, :class:`ThreadInfo`, :class:`TaxonomyEntry`) into ``index/``.
Engine stages: retrieval returns :class:`Hit`; the classifier returns
:class:`CategoryScore`; the recommender returns :class:`ModelRecommendation`; the
composer returns :class:`Advice` / :class:`Explanation` with :class:`Citation`.

All records are plain dataclasses whose fields are JSON-serialisable, so
``dataclasses.asdict`` is the wire format for the API and the eval command. This module
holds no logic beyond small conveniences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

DocKind = Literal["taxonomy", "thread", "model", "model2026"]

THREAD_URL = "https://discuss.huggingface.co/t/{id}"
MODEL_URL = "https://huggingface.co/{id}"


@dataclass
class Document:
    """One retrievable unit before chunking.

    ``id`` is stable across builds: ``taxonomy:challenge:<slug>``, ``thread:<topic id>``,
    ``model:<hub id>`` (2022 card snapshot or live Hub), ``model2026:<hub id>``.
    ``sections`` holds (heading, text) pairs for model cards; other kinds put all their
    text in ``text``. ``metadata`` is a flat JSON-able dict used for filters
    (task, library, languages, license_family, parameters, downloads, ...).
    """

    id: str
    kind: DocKind
    title: str
    text: str
    url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Chunk:
    """A piece of a document that gets one vector. Row i of the store = vector i.

    ``id`` is ``<doc id>#<ordinal>``; ``content_hash`` (sha1 of embed_model-independent
    ``text``) decides whether a rebuild must re-embed it.
    """

    id: str
    doc_id: str
    kind: DocKind
    title: str
    text: str
    url: str
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaxonomyEntry:
    """A codebook row: a challenge or benefit (sub)category."""

    kind: Literal["challenge", "benefit"]
    category: str  # exact codebook name, e.g. "Model Usage and Understanding"
    subcategory: str  # "" where the category has none
    definition: str
    example: str  # the codebook's example quote
    example_topic: int | None  # thread id of the example (T639 -> 639)
    count: int | None  # codes of this category in the Overview sheet

    @property
    def id(self) -> str:
        from advisor.taxonomy import slug

        sub = f"/{slug(self.subcategory)}" if self.subcategory else ""
        return f"taxonomy:{self.kind}:{slug(self.category)}{sub}"


@dataclass
class ThreadInfo:
    """A coded forum thread with its derived taxonomy label (marked as derived).

    ``title`` and ``first_post`` (plain text, capped) come from the forum itself, only
    when the build ran with ``--fetch-threads`` (:mod:`builder.sources.discourse`);
    an offline build leaves them empty and readers fall back to the codes.
    """

    topic_id: int
    forum_category: str
    codes: list[str]
    url: str
    root_cause: dict[str, str] | None = None  # question/answer code, root cause, labels
    category: str | None = None  # derived challenge category (codebook name)
    subcategory: str | None = None
    confidence: float = 0.0  # 0..1
    label_source: str = "derived"  # "root_causes" when the study labelled it
    title: str = ""  # the forum thread's title ("" offline)
    first_post: str = ""  # the question post as plain text ("" offline)


@dataclass(slots=True)
class ModelInfo:
    """Structured facts about one model, for filters and ranking (no card text).

    ``slots``: the full index holds ~45k of these in the serving process."""

    id: str
    source: Literal["2022", "2026", "hub"]
    pipeline_tag: str | None = None
    library: str | None = None
    languages: list[str] = field(default_factory=list)
    license: str | None = None
    license_family: str | None = None  # oss | non-commercial | unknown
    downloads: int = 0  # 2022: monthly downloads then; 2026: downloads_30d
    likes: int = 0
    parameters: int | None = None
    formats: list[str] = field(default_factory=list)
    gated: bool = False
    base_model: str | None = None
    tags: list[str] = field(default_factory=list)
    card_chars: int = 0
    card_quality: float = 0.0  # 0..1 from the sections present
    missing_sections: list[str] = field(default_factory=list)
    label_map: dict[str, str] = field(default_factory=dict)  # "LABEL_0" -> "negative"
    last_modified: str | None = None

    @property
    def url(self) -> str:
        return MODEL_URL.format(id=self.id)


@dataclass
class Hit:
    """A retrieved chunk with its fused score."""

    row: int
    chunk_id: str
    doc_id: str
    kind: DocKind
    title: str
    text: str
    url: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Citation:
    kind: Literal["thread", "model", "taxonomy", "guidance", "docs", "known_issue", "solved_request",
                  "labelled_post"]
    id: str
    url: str
    title: str = ""
    note: str = ""  # shown after the kind in Sources, e.g. a thread's label and who gave it


@dataclass
class CategoryScore:
    category: str  # exact codebook name
    subcategory: str
    score: float  # 0..1, calibrated-ish
    evidence: list[str] = field(default_factory=list)  # what decided: nearest labelled posts


@dataclass
class ModelRecommendation:
    model_id: str
    score: float
    pipeline_tag: str | None
    library: str | None
    downloads: int
    likes: int
    license: str | None
    license_family: str | None
    parameters: int | None
    card_quality: float
    missing_sections: list[str]
    source: str
    snippet: str  # ready-to-run `pipeline(...)` code
    warnings: list[str] = field(default_factory=list)
    thread_mentions: list[str] = field(default_factory=list)  # what people struggled with
    url: str = ""
    solved_like: str = ""  # a solved request like this one whose answer named the model
    card_read: bool = True  # False: the record had no card text, so card_quality is unknown


@dataclass
class Request:
    """One user input, checked once at the boundary (:func:`advisor.request.make_request`).

    Every surface (chat, widget, API, MCP, eval) builds one and the engine answers it
    without checking it again.
    """

    text: str  # cleaned (no control characters, secrets redacted) and within its limit
    kind: Literal["ask", "recommend", "explain"] = "ask"
    query: str = ""  # what is answered: ``text``, or a follow-up merged with an earlier request
    history: list[dict[str, str]] = field(default_factory=list)  # earlier turns, role+content
    filters: dict[str, Any] = field(default_factory=dict)  # checked (validate.Filters.as_dict)
    session: str | None = None  # Gradio's session id (rate limit and log only)
    model_id: str | None = None  # the model that produced a pasted output (explain)
    follow_up: str | None = None  # says which earlier request a follow-up reused

    def __post_init__(self) -> None:
        self.query = self.query or self.text


@dataclass
class Advice:
    """Everything the engine says about one question.

    ``sections`` (the answer's markdown sections, composer's or LLM's) and ``citations``
    are the structure; ``answer`` is their one rendering (sections, then the numbered
    Sources), kept for the API and the eval command. Surfaces that show sources apart
    (the chat) render ``sections`` and ``citations`` themselves and never parse ``answer``.
    """

    question: str
    answer: str  # markdown: sections + "### Sources"
    categories: list[CategoryScore]
    confidence: float
    unsure: bool
    models: list[ModelRecommendation]
    citations: list[Citation]
    hits: list[Hit] = field(default_factory=list)
    intent: str = "challenge"  # challenge | recommend | explain
    backend: str = "offline"
    notes: list[str] = field(default_factory=list)  # e.g. "LLM timed out; offline answer"
    latency_ms: float = 0.0
    task: str | None = None  # the Hub task the request was understood as (model choice)
    task_confidence: float | None = None
    known_issues: list[str] = field(default_factory=list)  # ids of matched KB entries
    also_check: list[str] = field(default_factory=list)  # ids of the entries listed after them
    sections: list[str] = field(default_factory=list)  # the answer body, without sources
    explanation: Explanation | None = None  # when the question was a pasted output/error

    def to_dict(self, with_hits: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_hits:
            d.pop("hits")
        return d


@dataclass
class Explanation:
    """What a pasted output or error means."""

    text: str  # the pasted input (truncated copy)
    kinds: list[str]  # detected patterns: label_ids, logits, nan_loss, shape_mismatch, ...
    answer: str  # markdown
    label_map: dict[str, str]
    model_id: str | None
    citations: list[Citation]
    categories: list[CategoryScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def recognised(self) -> bool:
        """True when a detector recognised a specific kind (anything but ``"unknown"``)."""
        return any(k != "unknown" for k in self.kinds)


# --- the engine's parts, as the engine uses them (advisor.engine._Parts) ---------------
class Retriever(Protocol):
    def search(self, query: str, k: int = 8, kinds: list[str] | None = None,
               doc_ids: list[str] | None = None, mode: str | None = None,
               qvec: np.ndarray | None = None) -> list[Hit]: ...


class Classifier(Protocol):
    def predict(self, text: str, k: int = 3) -> list[CategoryScore]: ...

    def is_unsure(self, scores: list[CategoryScore]) -> bool: ...


class ModelRecommender(Protocol):
    def recommend(self, text: str, filters: dict | None = None,
                  k: int = 5) -> list[ModelRecommendation]: ...

    def recommend_with_request(self, text: str, filters: dict | None, k: int,
                               qvec: np.ndarray | None) -> tuple[Any, list[ModelRecommendation]]:
        ...


class Explainer(Protocol):
    def explain(self, text: str, model_id: str | None = None) -> Explanation: ...


class KnownIssues(Protocol):
    def match(self, text: str, qvec: np.ndarray) -> list[Any]: ...  # KnownIssueMatch


class IntentDetector(Protocol):
    threshold: float

    def proba(self, text: str, qvec: np.ndarray) -> float: ...
