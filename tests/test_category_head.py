"""The fine-tuned category head: fitting on a small slice of the real labelled posts, the
ONNX export scoring like the torch model, loading and its errors, how the classifier mixes
it in, and the build's labelling stage writing and reusing it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from advisor.category_head import HEAD_DIR, HEAD_FILE, CategoryHead, head_input
from advisor.classifier import TaxonomyClassifier
from advisor.config import LABELLED_POSTS_FILE
from advisor.errors import IndexCorruptError, IndexMismatchError
from advisor.labelled import LabelledText, read_labelled_posts
from advisor.taxonomy import CHALLENGE_CATEGORIES
from tests.conftest import FakeEmbedder

MODEL = "packaged:all-MiniLM-L6-v2"


def _slice(n_per_category: int = 16, categories: int = 3) -> list[LabelledText]:
    """The first posts of the most frequent categories of eval/train_posts.jsonl."""
    posts = read_labelled_posts(Path(LABELLED_POSTS_FILE))
    common = [c for c, _ in Counter(p.category for p in posts).most_common(categories)]
    return [p for c in common for p in [q for q in posts if q.category == c][:n_per_category]]


@pytest.fixture(scope="module")
def fitted():
    """Fitted once per module: 48 real posts of 3 categories, 4 epochs of 48 tokens (~15 s)."""
    from builder.category_head import fit_category_head

    posts = _slice()
    return posts, fit_category_head(posts, MODEL, epochs=4, max_len=48, disable_progress=True)


def test_fine_tune_lowers_the_loss_and_learns_the_slice(fitted):
    posts, head = fitted
    assert head.n_texts == len(posts) and len(head.losses) == 4
    assert head.losses[-1] < 0.8 * head.losses[0]
    p = head.proba([q.text for q in posts])
    gold = np.array([CHALLENGE_CATEGORIES.index(q.category) for q in posts])
    assert p.shape == (len(posts), len(CHALLENGE_CATEGORIES))
    assert np.mean(p.argmax(1) == gold) > 0.6  # three categories: chance is 0.33


def test_saved_head_scores_like_the_torch_model(fitted, tmp_path):
    posts, head = fitted
    meta = head.save(tmp_path / HEAD_DIR)
    assert meta["max_seq_length"] == 48 and meta["model_id"].endswith(MODEL)
    with pytest.raises(FileExistsError):
        head.save(tmp_path / HEAD_DIR)
    loaded = CategoryHead.load(tmp_path / HEAD_DIR)
    texts = [q.text for q in posts[:10]] + ["", "```\nTraceback\nValueError: x\n```"]
    a, b = head.proba(texts), loaded.proba(texts)
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(b.sum(axis=1), 1.0, atol=1e-5)
    assert loaded.proba([]).shape == (0, len(CHALLENGE_CATEGORIES))


def test_head_reads_title_and_prose_not_code():
    text = "Tokenizer fails\nI load it and it breaks.\n```\nx = 1\n```\nValueError: bad vocab"
    got = head_input(text)
    assert got.startswith("Tokenizer fails I load it") and "x = 1" not in got
    assert "ValueError: bad vocab" in got


def test_fit_refuses_posts_of_one_category():
    from builder.category_head import fit_category_head

    one = [LabelledText("my space is stuck building", "Spaces", "", "real_post")] * 3
    others = [LabelledText("a codebook definition", "Spaces", "", "definition")]
    with pytest.raises(ValueError, match="at least two categories.*CATEGORY_HEAD_EPOCHS=0"):
        fit_category_head(one + others, MODEL, epochs=1)


def test_generic_fit_refuses_labels_outside_its_classes_and_no_texts():
    from builder.category_head import fit_text_head

    with pytest.raises(ValueError, match="labels outside the classes: \\['image-to-text'\\]"):
        fit_text_head(["read text off a photo"], ["image-to-text"], ["translation"], MODEL, 1,
                      what="task head")
    with pytest.raises(ValueError, match="0 texts"):
        fit_text_head([], [], ["translation"], MODEL, 1)


def test_load_without_head_corrupt_or_other_categories(fitted, tmp_path):
    _, head = fitted
    assert CategoryHead.load(tmp_path / "none") is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexCorruptError, match="python -m builder build"):
        CategoryHead.load(tmp_path / "empty")
    d = tmp_path / HEAD_DIR
    head.save(d)
    arrays = dict(np.load(d / HEAD_FILE))
    np.savez(d / HEAD_FILE, **{**arrays, "categories": arrays["categories"][::-1]})
    with pytest.raises(IndexMismatchError, match="other classes"):
        CategoryHead.load(d)
    np.savez(d / HEAD_FILE, **{**arrays, "format_version": np.int64(99)})
    with pytest.raises(IndexMismatchError, match="format 99"):
        CategoryHead.load(d)


class _FixedHead:
    """A head that always says the same: shows the mixing arithmetic."""

    def __init__(self, k: int):
        self.p = np.eye(len(CHALLENGE_CATEGORIES))[k]

    def proba(self, texts):
        return np.tile(self.p, (len(texts), 1))


def test_classifier_mixes_the_head_by_its_weight(tmp_path):
    emb = FakeEmbedder()
    texts = [LabelledText(f"{c} question about {c.lower()} number {i}", c, "", "real_post")
             for c in CHALLENGE_CATEGORIES for i in range(2)]
    clf = TaxonomyClassifier().fit_texts(texts, emb)
    qs = ["my space will not start", "the model output is gibberish"]
    base = clf.proba_vectors(clf.featurize(qs), qs)
    clf.head, clf.head_weight = _FixedHead(5), 0.3
    mixed = clf.proba_vectors(clf.featurize(qs), qs)
    np.testing.assert_allclose(mixed, 0.7 * base + 0.3 * np.eye(len(CHALLENGE_CATEGORIES))[5])
    clf.head_weight = 1.0
    assert all(s[0].category == CHALLENGE_CATEGORIES[5] for s in clf.predict_many(qs))
    # the weight is saved; a saved classifier without a head directory loads without one
    clf.save(tmp_path)
    assert json.loads((tmp_path / "classifier.json").read_text())["params"]["head_weight"] == 1.0
    assert TaxonomyClassifier.load(tmp_path, emb).head is None


def test_labelling_stage_fits_saves_and_reuses_the_head(corpus_dir, tmp_path):
    """The build's labelling stage with a head: fitted on the real posts (two steps
    here), used to label threads, written into the index, copied when reused, and part of
    the digest that decides reuse."""
    from advisor.config import Config
    from builder.labelling import Labelling, _classifier_inputs_sha256, label_threads
    from builder.sources.read import read_sources

    cfg = Config(corpus_dir=corpus_dir, index_dir=tmp_path / "index", disable_progress=True)
    data = read_sources(cfg, "snapshot", limit=3, hub_filters=None)
    emb = FakeEmbedder()
    lab = label_threads(data, emb, cfg.index_dir, head_epochs=0.01, base_model=MODEL,
                        disable_progress=True)
    assert lab.head is not None and lab.head_info["posts"] > 1000
    assert all(t.category for t in data.threads)  # labelled with the head mixed in
    tmp = tmp_path / "out"
    tmp.mkdir()
    info = lab.save(tmp, data.threads)
    assert info["category_head"]["epochs"] == 0.01
    assert TaxonomyClassifier.load(tmp, emb).head is not None
    reused = tmp_path / "reused"
    reused.mkdir()
    Labelling(reuse_from=tmp, inputs_sha256="x").save(reused, data.threads)
    assert CategoryHead.load(reused / HEAD_DIR) is not None
    digests = {_classifier_inputs_sha256(data, {}, emb, [], head)
               for head in (None, {"epochs": 3.0}, {"epochs": 2.0})}
    assert len(digests) == 3
