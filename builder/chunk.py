"""Documents -> chunks of at most ``cfg.chunk_size`` embedding-model tokens.

Splitting uses llama-index's ``SentenceSplitter`` (sentence-aware, with
``cfg.chunk_overlap`` tokens of overlap) with the *embedding model's own tokenizer*
(``tokenizer.json`` of the resolved ``cfg.embed_model``; llama-index's default tiktoken
counter only when the model has none), so "128 tokens" means what MiniLM sees. Model cards
are already split into sections by :mod:`builder.cards`, so the markdown structure is
handled there rather than by ``MarkdownNodeParser``.

Shapes:
- model docs: chunk ``#0`` = the metadata header + the beginning of the first section
  (the description); then chunks from the prioritised sections, each prefixed with
  ``"<model id> - <heading>:"``, at most ``cfg.max_chunks_per_card`` chunks per model.
- taxonomy, thread and model2026 docs: the text as one chunk when it fits; longer texts
  are split, every piece after the first prefixed with the document title.

Invariants (tested): no empty chunk; every chunk's token count <= ``cfg.chunk_size``
(prefixes and headers are counted inside the budget, no allowance); ids
``<doc id>#<ordinal>`` and ``content_hash`` = sha1(text) are stable across runs; no input
gives no output. This module does not embed.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from advisor.config import Config
from advisor.types import Chunk, Document

log = logging.getLogger(__name__)

MIN_BODY_TOKENS = 16  # a header may use the budget only down to this much card text
CHARS_PER_TOKEN_CAP = 6  # pre-trim a section to chunks_left * size * 6 chars (English
# card text runs ~4.5 chars per MiniLM token): the tokenizer, the slow part (~0.4 ms per
# 450 chars on 2 cores), never sees the tail of a long card that could not fit anyway
PRECHECK_MAX_CHARS_PER_TOKEN = 12  # longer texts skip the "fits in one chunk?" count


@dataclass(frozen=True)
class TokenCounter:
    """``encode(text) -> token ids`` plus helpers; ``name`` says which tokenizer."""

    name: str
    encode: Callable[[str], list]
    truncate_fn: Callable[[str, int], str]

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def truncate(self, text: str, n: int) -> str:
        """The longest prefix of ``text`` with at most ``n`` tokens."""
        if n <= 0:
            return ""
        return text if self.count(text) <= n else self.truncate_fn(text, n)


@lru_cache(maxsize=4)
def get_token_counter(model_path: str) -> TokenCounter:
    """The tokenizer of the embedding model at ``model_path`` (cached per path)."""
    tok_file = Path(model_path) / "tokenizer.json"
    if tok_file.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_file))
        tok.no_truncation()
        tok.no_padding()

        def encode(text: str) -> list:
            return tok.encode(text, add_special_tokens=False).ids

        def truncate(text: str, n: int) -> str:
            offsets = tok.encode(text, add_special_tokens=False).offsets
            return text[: offsets[n - 1][1]].rstrip() if len(offsets) > n else text

        return TokenCounter(f"tokenizer.json of {model_path}", encode, truncate)
    from llama_index.core.utils import get_tokenizer

    log.warning("No tokenizer.json at %s: counting tokens with llama-index's tiktoken; "
                "chunk sizes are approximate for this embedding model.", model_path)
    enc = get_tokenizer()
    import tiktoken

    base = tiktoken.get_encoding("cl100k_base")

    def truncate_tt(text: str, n: int) -> str:
        return base.decode(base.encode(text, allowed_special="all")[:n]).rstrip()

    return TokenCounter("tiktoken cl100k_base", enc, truncate_tt)


def _counter_for(cfg: Config) -> TokenCounter:
    try:
        from advisor.embedding import resolve_model_path

        path = resolve_model_path(cfg.embed_model)
    except Exception as e:  # noqa: BLE001 - a missing package only changes the counter
        log.warning("Could not resolve %s (%s); using the tiktoken counter", cfg.embed_model, e)
        path = ""
    return get_token_counter(path)


class _Splitter:
    """SentenceSplitter instances per budget, with a hard token cap as the last word."""

    def __init__(self, counter: TokenCounter, overlap: int):
        self.counter = counter
        self.overlap = overlap
        self._by_size: dict[int, object] = {}

    def split(self, text: str, size: int) -> list[str]:
        text = text.strip()
        if not text or size <= 0:
            return []
        if len(text) <= size * PRECHECK_MAX_CHARS_PER_TOKEN and self.counter.count(text) <= size:
            return [text]
        splitter = self._by_size.get(size)
        if splitter is None:
            from llama_index.core.node_parser import SentenceSplitter

            splitter = SentenceSplitter(
                chunk_size=size,
                chunk_overlap=min(self.overlap, size // 4),
                tokenizer=self.counter.encode,
                include_metadata=False,
                include_prev_next_rel=False,
            )
            self._by_size[size] = splitter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "metadata length" notices: we pass none
            pieces = splitter.split_text(text)  # type: ignore[attr-defined]
        out = []
        for p in pieces:
            p = self.counter.truncate(p.strip(), size)  # the splitter may overshoot by a token
            if p:
                out.append(p)
        return out


def _make_chunk(doc: Document, ordinal: int, text: str, section: str) -> Chunk:
    meta = dict(doc.metadata)
    meta["section"] = section
    return Chunk(
        id=f"{doc.id}#{ordinal}",
        doc_id=doc.id,
        kind=doc.kind,
        title=doc.title,
        text=text,
        url=doc.url,
        content_hash=hashlib.sha1(text.encode("utf-8")).hexdigest(),
        metadata=meta,
    )


def _rest_after(text: str, piece: str) -> str | None:
    """The text after ``piece`` (which the splitter took from ``text``); ``None`` if lost."""
    tail = piece[-40:]
    pos = text.find(tail)
    return text[pos + len(tail):] if tail and pos >= 0 else None


def _chunk_model(doc: Document, cfg: Config, sp: _Splitter) -> Iterator[Chunk]:
    size, cap = cfg.chunk_size, max(1, cfg.max_chunks_per_card)
    c = sp.counter
    header = c.truncate(doc.text.strip(), max(size - MIN_BODY_TOKENS, size // 2))
    sections = list(doc.sections)
    first_text, first_heading = "", "header"
    rest_of_first: str | None = None
    if sections:
        heading, body = sections[0]
        budget = size - c.count(header + "\n")
        if budget >= MIN_BODY_TOKENS:
            pieces = sp.split(body[: budget * CHARS_PER_TOKEN_CAP * 2], budget)
            if pieces:
                first_text, first_heading = pieces[0], heading
                rest_of_first = _rest_after(body, pieces[0])
    text0 = f"{header}\n{first_text}".strip() if first_text else header
    if not text0:
        return
    yield _make_chunk(doc, 0, c.truncate(text0, size), first_heading)
    n = 1
    for i, (heading, body) in enumerate(sections):
        if n >= cap:
            return
        if i == 0 and first_text:
            if rest_of_first is None:
                continue  # cannot tell where chunk #0 stopped: skip rather than repeat
            body = rest_of_first
        prefix = f"{doc.title} - {heading}:"
        budget = size - c.count(prefix + "\n")
        if budget < MIN_BODY_TOKENS:
            prefix, budget = "", size
        remaining = cap - n
        for piece in sp.split(body[: remaining * size * CHARS_PER_TOKEN_CAP], budget):
            if n >= cap:
                return
            yield _make_chunk(doc, n, f"{prefix}\n{piece}" if prefix else piece, heading)
            n += 1


def _chunk_plain(doc: Document, cfg: Config, sp: _Splitter) -> Iterator[Chunk]:
    size, c = cfg.chunk_size, sp.counter
    text = doc.text.strip()
    if not text:
        return
    if c.count(text) <= size:
        yield _make_chunk(doc, 0, text, "")
        return
    prefix = f"{doc.title}:"
    budget = size - c.count(prefix + "\n")
    if budget < MIN_BODY_TOKENS:
        prefix, budget = "", size
    for n, piece in enumerate(sp.split(text, budget)):
        # the first piece starts the document itself; later ones carry the title
        yield _make_chunk(doc, n, f"{prefix}\n{piece}" if prefix and n else piece, "")


def chunk_documents(docs: Iterable[Document], cfg: Config) -> Iterator[Chunk]:
    """Yield the chunks of ``docs`` in input order (lazily)."""
    sp = _Splitter(_counter_for(cfg), cfg.chunk_overlap)
    for doc in docs:
        if doc.kind == "model":
            yield from _chunk_model(doc, cfg, sp)
        else:
            yield from _chunk_plain(doc, cfg, sp)
