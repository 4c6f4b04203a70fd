"""Labelled texts and how a question is read, for the challenge classifier and the
intent model: the real labelled posts and codebook texts they learn from, a post cut into
title, prose and code (:func:`prepare_text`), prose windows for the embedder, hashed word
n-grams, and the keyword cues (data: ``prompts/category_cues.yaml``).

Nothing here fits a model (see :mod:`advisor.classifier`); :func:`label_threads` applies a
fitted classifier to the coded threads. Nothing reads the corpus (the builder passes
codebook entries and threads in).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advisor.config import PROMPTS_DIR
from advisor.datafiles import load_yaml
from advisor.errors import KnowledgeBaseError
from advisor.taxonomy import CHALLENGE_CATEGORIES, canonical_category
from advisor.types import TaxonomyEntry, ThreadInfo

log = logging.getLogger(__name__)

LEX_FEATURES = 2**14  # hashed word 1-2 grams: no vocabulary to store, 17 x 16k floats
DEFAULT_WINDOW_CHARS = 900  # MiniLM reads 256 word pieces (~1,000 characters of English):
# longer prose is embedded in windows of about this size and the windows averaged
DEFAULT_FORUM_TAG_FACTOR = 0.5  # keyword cues found in a thread's forum tag count half
DEFAULT_MAX_WINDOWS = 4  # a long post's first ~3,600 prose characters carry its question


@dataclass(frozen=True)
class KeywordCue:
    """A strong lexical signal: ``pattern`` (case-insensitive) adds ``weight`` to
    ``category`` (and names ``subcategory`` when given)."""

    pattern: str
    category: str
    subcategory: str = ""
    weight: float = 0.3


CUES_FILE = PROMPTS_DIR / "category_cues.yaml"


@functools.lru_cache(maxsize=4)
def load_cues(path: Path = CUES_FILE) -> tuple[tuple[re.Pattern[str], KeywordCue], ...]:
    """The compiled keyword cues of ``prompts/category_cues.yaml``, in file order; a bad
    category or pattern raises :class:`KnowledgeBaseError` naming the file."""
    import yaml

    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as e:
        raise KnowledgeBaseError(f"Cannot read the keyword cues at {path} ({e}).") from e
    out = []
    for block in data:
        cat = block.get("category")
        if cat not in CHALLENGE_CATEGORIES:
            raise KnowledgeBaseError(f"{path}: unknown category {cat!r}; use a codebook name.")
        for c in block.get("cues") or []:
            cue = KeywordCue(str(c["pattern"]), cat, str(c.get("subcategory") or ""),
                             float(c.get("weight", 0.3)))
            try:
                out.append((re.compile(cue.pattern, re.IGNORECASE), cue))
            except re.error as e:
                raise KnowledgeBaseError(f"{path}: a cue of {cat!r} does not compile ({e}).") from e
    return tuple(out)


@dataclass
class LabelledText:
    text: str
    category: str
    subcategory: str
    source: str  # definition | example | root_cause | guidance | real_post | known_issue
    url: str = ""  # where a real post was asked (shown as evidence)


_TOPIC_PREFIX = re.compile(r"^\s*T\d+\s*:\s*")


def read_labelled_posts(path: Path) -> list[LabelledText]:
    """Real questions labelled with the codebook (``eval/train_posts.jsonl``: ``question``,
    ``category``, ``subcategory``, ``source_url``); rows with an unknown category are
    skipped with a warning. A missing file gives ``[]``."""
    out: list[LabelledText] = []
    if not Path(path).exists():
        log.warning("No labelled posts at %s; the classifier learns from the codebook only", path)
        return out
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            cat = canonical_category(d["category"])
            if cat is None:
                raise ValueError(f"unknown category {d['category']!r}")
            out.append(LabelledText(str(d["question"]), cat, str(d.get("subcategory") or ""),
                                    "real_post", str(d.get("source_url") or "")))
        except (ValueError, KeyError, TypeError) as e:
            log.warning("%s:%d skipped (%s)", path, n, e)
    return out


def labelled_posts(eval_dir: Path) -> list[LabelledText]:
    """Every real labelled post the classifier may learn from: ``train_posts.jsonl`` and the
    ``tune`` half of ``real_questions.jsonl`` (the ``test`` half is never read here)."""
    from advisor.eval import split_of

    posts = read_labelled_posts(Path(eval_dir) / "train_posts.jsonl")
    questions = read_labelled_posts(Path(eval_dir) / "real_questions.jsonl")
    return posts + [q for q in questions if q.url and split_of(q.url) == "tune"]


def known_issue_texts(issues: Sequence[Any]) -> list[LabelledText]:
    """Each known-issue entry's ``example`` and ``description`` labelled with its category
    (source ``known_issue``): several hundred texts in a user's words, written from public
    threads by people who did not see the evaluation questions. 5-fold CV on the ``tune``
    questions (``python -m bench.category_cv``): top-1 0.687 -> 0.735, top-3 0.880 ->
    0.904 with them. They are training texts only, never shown as "similar posts"."""
    out: list[LabelledText] = []
    for i in issues:
        cat = canonical_category(i.category)
        if cat is None:
            continue
        for text in (i.example, i.description):
            if text and text.strip():
                out.append(LabelledText(" ".join(text.split()), cat, i.subcategory or "",
                                        "known_issue"))
    return out


def _request_rows(path: Path) -> list[dict]:
    """The rows of ``eval/train_requests.jsonl`` (``[]`` when the file is missing, e.g. an
    installed package without ``eval/``)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def training_requests(path: Path) -> list[tuple[str, str]]:
    """``(question, task)`` of the training-only real model requests (``[]`` when the file
    is missing). The intent model and the task model learn from them."""
    return [(r["question"], r["task"]) for r in _request_rows(path)
            if r.get("question") and r.get("task")]


def training_request_rows(path: Path) -> list[tuple[str, str, list[str]]]:
    """``(question, task, good model ids)`` of the training-only real model requests that
    carry all three; the build learns the language order of :mod:`advisor.ask_language`
    from them."""
    return [(r["question"], r["task"], list(r["good_models"])) for r in _request_rows(path)
            if r.get("question") and r.get("task") and r.get("good_models")]


def training_request_models(path: Path) -> list[tuple[str, list[str]]]:
    """``(task, good model ids)`` of the training-only real model requests that carry
    ``good_models`` (``[]`` when the file is missing); the build learns the related
    tasks of :func:`advisor.pools.learn_related_tasks` from them."""
    return [(r["task"], list(r["good_models"])) for r in _request_rows(path)
            if r.get("task") and r.get("good_models")]


def training_texts(
    taxonomy: Sequence[TaxonomyEntry],
    threads: Sequence[ThreadInfo],
    guidance: Mapping[str, Any] | None,
    posts: Sequence[LabelledText] = (),
) -> list[LabelledText]:
    """All labelled texts the classifier learns from. Codebook, root-cause and guidance
    texts stay in memory only; real posts (our own paraphrases, shipped in the repo) are
    also kept as evidence."""
    out: list[LabelledText] = list(posts)
    for e in taxonomy:
        if e.kind != "challenge":
            continue
        cat = canonical_category(e.category)
        if cat is None:
            log.warning("Codebook category %r is not a known challenge category", e.category)
            continue
        head = f"{cat}: {e.subcategory}." if e.subcategory else f"{cat}."
        if e.definition.strip():
            out.append(LabelledText(f"{head} {e.definition.strip()}", cat, e.subcategory, "definition"))
        example = _TOPIC_PREFIX.sub("", e.example or "").strip().strip('"')
        if example:
            out.append(LabelledText(example, cat, e.subcategory, "example"))
    for t in threads:
        if t.label_source != "root_causes" or not t.category or not t.root_cause:
            continue
        cat = canonical_category(t.category)
        question = (t.root_cause.get("question") or "").strip()
        if cat and question:
            out.append(LabelledText(question, cat, t.subcategory or "", "root_cause"))
    for cat, g in (guidance or {}).items():
        cat = canonical_category(cat)
        if cat is None:
            continue
        for q in getattr(g, "typical_questions", []) or []:
            out.append(LabelledText(q, cat, "", "guidance"))
    return out


_FENCE = re.compile(r"```.*?(?:```|\Z)|<pre>.*?(?:</pre>|\Z)", re.S | re.I)
_CODE_LINE = re.compile(
    r"^\s*(?:File \"|Traceback|>>>|\.\.\.\s|\$ |!?pip |python |import \w|from [\w.]+ import|at [\w.$]+\(|"
    r"#|//|[\w.\[\]'\"]+\s*[+\-*/]?=\s*\S|[\w.]+\(.*\)[:;,]?\s*$|[\]\[{}()<>|,:;'\"0-9.\s-]+$|"
    r"(?:def|class|for|if|with|return|try|except|while|else)\b.*:?\s*$)"
)
_ERROR_LINE = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Warning|Exit))\b(?::[ \t]*([^\n]{0,160}))?")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z0-9\"'(])")
DEFAULT_TITLE_MAX_CHARS = 200  # a first line longer than this is a paragraph, not a title


@dataclass(frozen=True)
class PreparedText:
    """A question split for the classifier: ``title`` (first line or sentence), ``prose``
    (the text without code blocks, code lines and tracebacks, but with the error lines
    ``XError: message`` kept), ``code`` (what was taken out)."""

    title: str
    prose: str
    code: str


def prepare_text(text: str) -> PreparedText:
    """Split ``text`` into title, prose and code (see :class:`PreparedText`)."""
    text = (text or "").replace("\r\n", "\n")
    code_parts = [m.group(0) for m in _FENCE.finditer(text)]
    body = _FENCE.sub("\n", text)
    prose_lines: list[str] = []
    for line in body.split("\n"):
        if line.strip() and _CODE_LINE.match(line) and not _ERROR_LINE.match(line.strip()):
            code_parts.append(line)
        else:
            prose_lines.append(line)
    code = "\n".join(code_parts)
    errors = list(dict.fromkeys(
        m.group(0).strip() for m in _ERROR_LINE.finditer(code) if m.group(1) != "Exception"
    ))[-3:]  # the last lines of a traceback name the error
    prose = " ".join(" ".join(prose_lines).split())
    if errors:
        prose = f"{prose} {' '.join(errors)}".strip()
    if not prose:
        prose = " ".join(text.split())
    first = text.strip().split("\n", 1)[0].strip()
    if "\n" in text.strip() and 0 < len(first) <= DEFAULT_TITLE_MAX_CHARS and not _CODE_LINE.match(first):
        title = first
    else:
        title = _SENTENCE_END.split(prose, 1)[0][:DEFAULT_TITLE_MAX_CHARS]
    return PreparedText(title=title, prose=prose, code=code)


def windows(prose: str, size: int = DEFAULT_WINDOW_CHARS, limit: int = DEFAULT_MAX_WINDOWS) -> list[str]:
    """``prose`` as up to ``limit`` consecutive pieces of about ``size`` characters,
    cut at sentence ends where possible."""
    if len(prose) <= size:
        return [prose]
    out: list[str] = []
    cur = ""
    for sent in _SENTENCE_END.split(prose):
        while len(sent) > size:  # one huge "sentence": cut it hard
            if cur:
                out.append(cur)
                cur = ""
            out.append(sent[:size])
            sent = sent[size:]
        if cur and len(cur) + 1 + len(sent) > size:
            out.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}".strip()
    if cur:
        out.append(cur)
    return out[:limit]


def keyword_boosts(text: str, scale: float = 1.0) -> tuple[np.ndarray, dict[str, str]]:
    """(n_categories,) additive boosts from the keyword cues (times ``scale``), and the subcategory each
    boosted category's best cue names (if any)."""
    boosts = np.zeros(len(CHALLENGE_CATEGORIES), dtype=np.float64)
    subs: dict[str, str] = {}
    index = {c: i for i, c in enumerate(CHALLENGE_CATEGORIES)}
    for rx, cue in load_cues():
        if not rx.search(text):
            continue
        i = index[cue.category]
        w = cue.weight * scale
        if w > boosts[i]:
            boosts[i] = w
            if cue.subcategory:
                subs[cue.category] = cue.subcategory
    return boosts, subs


def hashed_ngrams(texts: Sequence[str], n_features: int = LEX_FEATURES):
    """(n, n_features) sparse, L2-normalised hashed word 1-2 grams (stateless: no
    vocabulary to store). Dotted names (config.json, torch.cuda) stay one token."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        n_features=n_features,
        ngram_range=(1, 2),
        token_pattern=r"(?u)\b\w[\w.]*\w\b|\b\w\b",
        alternate_sign=False,
        norm="l2",
    )
    return vec.transform(list(texts))


def nearest_weights(sims: np.ndarray, k: int, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest columns of each row of ``sims`` (``(n, m)`` cosines; all ``m``
    when fewer), in no particular order, and their vote weights ``exp((cosine - best) /
    temperature)``: the nearest-neighbour votes of :mod:`advisor.intent` and
    :mod:`advisor.classifier` read labelled texts this way."""
    sims = np.atleast_2d(sims)
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(sims, top, axis=1)
    return top, np.exp((near - near.max(axis=1, keepdims=True)) / temperature)


def label_threads(clf: Any, threads: Sequence[ThreadInfo]) -> list[ThreadInfo]:
    """Label threads the study did not label, from their codes and forum tag.

    Each code is scored separately (a thread mixes questions, answers and thanks) and
    the scores are averaged; keyword cues in the forum tag count
    :data:`DEFAULT_FORUM_TAG_FACTOR`. Study-labelled threads come back unchanged.
    Returns new :class:`ThreadInfo` objects (``label_source="derived"``).
    """
    assert clf.embedder is not None
    todo = [t for t in threads if not (t.label_source == "root_causes" and t.category)]
    codes: list[str] = []
    owner: list[int] = []
    for j, t in enumerate(todo):
        for c in t.codes or []:
            if c and c.strip():
                codes.append(c.strip())
                owner.append(j)
    labelled: dict[int, ThreadInfo] = {}
    if codes:
        vecs = clf.featurize(codes)
        probs = clf.proba_vectors(vecs, codes)
        owner_arr = np.array(owner)
        for j, t in enumerate(todo):
            mask = owner_arr == j
            if not mask.any():
                continue
            p = probs[mask].mean(axis=0)
            tag_boost = keyword_boosts(t.forum_category or "", clf.boost_scale * DEFAULT_FORUM_TAG_FACTOR)[0]
            p = (p + tag_boost) / (p + tag_boost).sum()
            v = vecs[mask].mean(axis=0)
            v = v / (np.linalg.norm(v) or 1.0)
            i = int(np.argmax(p))
            cat = clf.categories[i]
            cue_subs = keyword_boosts(" ".join(t.codes), clf.boost_scale)[1]
            labelled[id(t)] = dataclasses.replace(
                t,
                category=cat,
                subcategory=clf.subcategory_for(v, cat, cue_subs) or None,
                confidence=float(round(p[i], 4)),
                label_source="derived",
            )
    return [labelled.get(id(t), t) for t in threads]
