"""Chunker invariants with the embedding model's own tokenizer (no model weights load)."""

from __future__ import annotations

import pytest

from advisor.config import Config
from advisor.types import Document
from builder.chunk import _counter_for, chunk_documents
from builder.documents import taxonomy_documents, thread_documents
from builder.report import SourceReport
from builder.sources.cards2022 import CARDS_FILE, read_cards
from builder.sources.taxonomy import read_taxonomy
from builder.sources.threads import read_threads

CFG = Config()


@pytest.fixture(scope="module")
def real_docs(corpus_dir) -> list[Document]:
    docs = taxonomy_documents(read_taxonomy(corpus_dir, SourceReport("t")))
    docs += thread_documents(read_threads(corpus_dir, SourceReport("th")))
    docs += [d for _, d in read_cards(corpus_dir / CARDS_FILE, SourceReport("c"), limit=400)]
    return docs


def _long_model_doc() -> Document:
    body = " ".join(f"Sentence number {i} explains the invented model in plain words." for i in range(200))
    return Document(
        id="model:org/long", kind="model", title="org/long", text="Model org/long. task: fill-mask.",
        url="https://huggingface.co/org/long", metadata={"task": "fill-mask"},
        sections=[("description", body), ("How to use", body), ("Training data", body)],
    )


def test_empty_input():
    assert list(chunk_documents([], CFG)) == []


def test_short_doc_unchanged():
    doc = Document(id="thread:1", kind="thread", title="t", text="A short invented thread.", url="u",
                   metadata={"topic_id": 1})
    (chunk,) = chunk_documents([doc], CFG)
    assert chunk.text == doc.text and chunk.id == "thread:1#0" and chunk.doc_id == doc.id
    assert chunk.metadata["topic_id"] == 1 and "section" in chunk.metadata


@pytest.mark.parametrize("size, cap", [(128, 3), (64, 5)])
def test_model_doc_cap_and_token_limit(size, cap):
    cfg = CFG.replace(chunk_size=size, max_chunks_per_card=cap)
    chunks = list(chunk_documents([_long_model_doc()], cfg))
    counter = _counter_for(cfg)
    assert len(chunks) == cap
    assert [c.id for c in chunks] == [f"model:org/long#{i}" for i in range(cap)]
    assert chunks[0].text.startswith("Model org/long.")
    assert all(counter.count(c.text) <= size for c in chunks)
    assert chunks[1].text.startswith("org/long - ")


def test_invariants_on_real_docs(real_docs):
    chunks = list(chunk_documents(real_docs, CFG))
    counter = _counter_for(CFG)
    assert all(c.text.strip() for c in chunks)
    assert all(counter.count(c.text) <= CFG.chunk_size for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)
    per_doc: dict[str, int] = {}
    for c in chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    assert max(n for d, n in per_doc.items() if d.startswith("model:")) <= CFG.max_chunks_per_card
    assert set(per_doc) == {d.id for d in real_docs}  # every document gets at least one chunk
    # stable across runs
    again = list(chunk_documents(real_docs, CFG))
    assert [(c.id, c.content_hash) for c in chunks] == [(c.id, c.content_hash) for c in again]
    # model metadata travels with every chunk
    m = next(c for c in chunks if c.kind == "model")
    assert m.metadata["model_id"] == m.title and "section" in m.metadata
