"""Each entry's signature record: on how many labelled training posts its signatures fire
and how many of those it solved; an entry whose error line comes mostly with other
problems is not called the likely fix (advisor.kb_store, advisor.kb_rank)."""

from __future__ import annotations

import re

import pytest

from advisor.compose import _Cites as Citations
from advisor.config import LABELLED_POSTS_FILE
from advisor.fix_sections import known_issue_section
from advisor.kb_rank import signature_likely
from advisor.kb_store import (
    _required_literal,
    load_signature_record,
    read_kb_labelled_posts,
    save_vector_cache,
    signature_record,
)
from advisor.known_issues import KnownIssueMatcher, load_known_issues

OOM = (
    "id: oom-train\ntitle: Out of memory while fine-tuning\ncategory: Memory & Performance\n"
    "signatures: ['CUDA out of memory']\n"
    "description: fine-tuning with Trainer runs out of GPU memory\n"
    "applies_when: training a model\nnot_when: only serving a model, no training at all\n"
    "cause: c\nfix: [smaller batch]\nthreads: ['https://x']\nexample: 'CUDA out of memory'\n")
LFS = (
    "id: lfs-pointer\ntitle: A clone holds git lfs pointer files\n"
    "category: Model Usage and Understanding\n"
    "signatures: ['version https://git-lfs']\n"
    "description: the weights file is a small text pointer\n"
    "cause: c\nfix: [git lfs pull]\nthreads: ['https://y']\n"
    "example: 'version https://git-lfs.github.com/spec/v1'\n")
POSTS = [  # (the entry that solved it, or "" for none in the knowledge base; its text)
    ("oom-train", "Trainer: RuntimeError: CUDA out of memory. Tried to allocate 20 MiB"),
    ("", "cuda OUT OF MEMORY while serving with vLLM"),
    ("lfs-pointer", "generate fails with CUDA out of memory after loading"),
    ("oom-train", "my batch size is too big, what can I do"),
    ("lfs-pointer", "the bin file says version https://git-lfs.github.com/spec/v1"),
]


@pytest.fixture
def two_entries(tmp_path):
    (tmp_path / "oom-train.yaml").write_text(OOM)
    (tmp_path / "lfs-pointer.yaml").write_text(LFS)
    return load_known_issues(tmp_path)


def test_the_record_counts_where_signatures_fire_and_how_often_rightly(two_entries):
    rec = signature_record(two_entries, POSTS)
    assert rec == {"oom-train": (3, 1), "lfs-pointer": (1, 1)}
    assert not signature_likely(*rec["oom-train"])  # fired 3 times, right once
    assert signature_likely(*rec["lfs-pointer"])
    assert signature_likely(1, 0)  # one post is too little to doubt an error line
    assert signature_likely(4, 2) and not signature_likely(5, 2)


@pytest.mark.parametrize(("pattern", "literal"), [
    ("requires the SentencePiece library", "requires the sentencepiece library"),
    ("No module named ['\"]?sentencepiece", "no module named "),
    (r"expected scalar type (?:Half|Float)", "expected scalar type "),
    ("(?:foo|bar)baz", "baz"),
    ("a|bcdef", ""),  # no part every match holds
    (r"\d+ MiB", " mib"),
])
def test_the_literal_every_match_holds(pattern, literal):
    assert _required_literal(re.compile(pattern, re.I)) == literal


def test_the_literal_shortcut_counts_as_plain_search_does(corpus_dir):
    """On the real knowledge base and a slice of the real labelled posts, the record
    equals one made by running every regex on every post."""
    issues = load_known_issues()
    posts = read_kb_labelled_posts(LABELLED_POSTS_FILE)[:400]
    assert len(posts) == 400 and any(not e for e, _ in posts) and any(e for e, _ in posts)
    plain: dict[str, list[int]] = {}
    for label, text in posts:
        for i in issues:
            if any(rx.search(text) for rx in i.signatures):
                c = plain.setdefault(i.id, [0, 0])
                c[0] += 1
                c[1] += label == i.id
    got = signature_record(issues, posts)
    assert got == {k: tuple(v) for k, v in plain.items()} and got


def test_the_record_is_saved_with_the_vectors(two_entries, fake_embedder, tmp_path):
    out = tmp_path / "index"
    out.mkdir()
    assert load_signature_record(out) == {}  # no file yet: every signature is trusted
    save_vector_cache(out, two_entries, fake_embedder,
                      record={"oom-train": (3, 1), "gone-entry": (9, 0)})
    assert load_signature_record(out) == {"oom-train": (3, 1)}  # entries of this KB only
    save_vector_cache(out, two_entries, fake_embedder)
    assert load_signature_record(out) == {}


def test_an_ambiguous_signature_is_shown_as_possibly_related(two_entries):
    text = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB while training"
    trusted = KnownIssueMatcher(two_entries).match(text)
    doubted = KnownIssueMatcher(two_entries, signature_record={"oom-train": (3, 1)}).match(text)
    assert [m.issue.id for m in trusted] == [m.issue.id for m in doubted] == ["oom-train"]
    assert trusted[0].strong and not trusted[0].ambiguous
    assert doubted[0].ambiguous and not doubted[0].strong and doubted[0].steers
    shown = known_issue_section(doubted, Citations())
    assert shown.startswith("### Possibly related known issue: Out of memory while fine-tuning")
    assert "which also comes up with other problems" in shown
    assert "_Not your case if only serving a model, no training at all._" in shown
    assert known_issue_section(trusted, Citations()).startswith("### Likely fix: ")
