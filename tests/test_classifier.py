"""Taxonomy classifier: fit/predict/save/load with the fake embedder (fast), and a slow
check on real data with the packaged MiniLM against the held-out dev set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from advisor.classifier import JSON_NAME, NPZ_NAME, TaxonomyClassifier
from advisor.errors import IndexCorruptError, IndexMismatchError
from advisor.guidance import Guidance, load_guidance
from advisor.labelled import keyword_boosts, prepare_text, training_texts, windows
from advisor.taxonomy import CHALLENGE_CATEGORIES, merge_explanation
from advisor.types import CategoryScore, Explanation, TaxonomyEntry, ThreadInfo
from tests.conftest import FakeEmbedder

DEV = Path(__file__).resolve().parents[1] / "eval" / "dev_questions.jsonl"
# Measured 0.85 / 0.96 with MiniLM (title + prose features, forum-style guidance
# questions; 0.79 / 0.96 before); the thresholds leave a margin for library noise but
# fail on a real regression.
DEV_TOP1_MIN = 0.78
DEV_TOP3_MIN = 0.92


def _entry(cat: str, sub: str, definition: str, example: str = "") -> TaxonomyEntry:
    return TaxonomyEntry("challenge", cat, sub, definition, example, None, None)


def _toy():
    """Invented texts: three categories with disjoint vocabularies."""
    taxonomy = [
        _entry("Memory & Performance", "Memory", "gpu memory ram exhausted allocation", "T1: memory ran out on gpu"),
        _entry("Memory & Performance", "Speed", "slow runtime speed seconds", "T2: runtime is slow seconds"),
        _entry("Spaces", "", "space app build hosting sleeping", "T3: space build hosting broken"),
        _entry("Dataset Acquisition & Usage", "Custom Datasets", "dataset rows columns csv files", ""),
        TaxonomyEntry("benefit", "Ignored Benefit", "", "benefit text", "", None, None),
    ]
    threads = [
        ThreadInfo(1, "Beginners", ["memory allocation failed on gpu"], "u", {"question": "gpu memory allocation"},
                   "Memory & Performance", "Memory", 1.0, "root_causes"),
        ThreadInfo(2, "Spaces", ["space hosting build stuck", "thanks"], "u"),
        ThreadInfo(3, "Datasets", ["csv columns rows dataset"], "u"),
        ThreadInfo(4, "Hub", [], "u"),
    ]
    guidance = {
        "Spaces": Guidance("Spaces", "s", [], [], ["space build app hosting sleeping broken"], []),
        "Dataset Acquisition & Usage": Guidance(
            "Dataset Acquisition & Usage", "d", [], [], ["csv dataset columns rows files"], []
        ),
    }
    return taxonomy, threads, guidance


@pytest.fixture(scope="module")
def toy_clf():
    """Fitted once per module (fitting takes ~1 s on a busy 2-core machine)."""
    taxonomy, threads, guidance = _toy()
    return TaxonomyClassifier().fit(taxonomy, threads, guidance, FakeEmbedder())


def test_training_texts_sources():
    taxonomy, threads, guidance = _toy()
    texts = training_texts(taxonomy, threads, guidance)
    sources = [t.source for t in texts]
    assert sources.count("definition") == 4  # benefits are not challenge categories
    assert sources.count("example") == 3  # empty example skipped, "T1:" prefix removed
    assert all(not t.text.startswith("T1") for t in texts)
    assert sources.count("root_cause") == 1 and sources.count("guidance") == 2


def test_known_issue_texts_train_but_are_never_shown_as_similar_posts():
    """Every real KB entry gives its example and description with its category; a
    classifier fitted with them learns from them but cites only real posts as evidence."""
    from advisor.known_issues import load_known_issues
    from advisor.labelled import LabelledText, known_issue_texts

    issues = load_known_issues()
    kb = known_issue_texts(issues)
    assert len(issues) <= len(kb) <= 2 * len(issues)
    assert {t.source for t in kb} == {"known_issue"}
    assert {t.category for t in kb} <= set(CHALLENGE_CATEGORIES)
    taxonomy, threads, guidance = _toy()
    post = LabelledText("space hosting build broken after push", "Spaces", "", "real_post",
                        "https://example.org/post")
    extra = [LabelledText("my space build hangs forever", "Spaces", "", "known_issue")]
    clf = TaxonomyClassifier().fit(taxonomy, threads, guidance, FakeEmbedder(), [post] + extra)
    assert clf.counts.get("known_issue") == 1
    assert [url for _, _, url in clf.post_meta] == ["https://example.org/post"]


def test_predict_ranks_and_scores(toy_clf):
    scores = toy_clf.predict("my space build is broken on hosting", k=3)
    assert [s.category for s in scores][0] == "Spaces"
    assert len(scores) == 3 and all(s.category in CHALLENGE_CATEGORIES for s in scores)
    assert scores[0].score >= scores[1].score >= scores[2].score
    assert 0.0 <= scores[-1].score <= scores[0].score <= 1.0
    full = toy_clf.predict("csv dataset with rows", k=len(CHALLENGE_CATEGORIES))
    assert sum(s.score for s in full) == pytest.approx(1.0, abs=1e-3)
    assert full[0].category == "Dataset Acquisition & Usage"
    assert full[0].subcategory == "Custom Datasets"


def test_subcategory_by_prototype(toy_clf):
    top = toy_clf.predict("runtime speed is slow, many seconds", k=1)[0]
    assert (top.category, top.subcategory) == ("Memory & Performance", "Speed")


def test_keyword_cue_wins_and_names_subcategory(toy_clf):
    top = toy_clf.predict("RuntimeError: CUDA out of memory", k=1)[0]
    assert (top.category, top.subcategory) == ("Memory & Performance", "Memory")
    boosts, subs = keyword_boosts("pipeline returns LABEL_1 with score 0.9 on SageMaker")
    i = CHALLENGE_CATEGORIES.index
    assert boosts[i("Incomprehensible output")] > 0 and boosts[i("External Platforms & Libraries")] > 0
    assert subs["External Platforms & Libraries"] == "Amazon"
    assert not keyword_boosts("hello there")[0].any()


def test_is_unsure(toy_clf):
    def s(*xs):
        return [CategoryScore(c, "", x) for c, x in zip(CHALLENGE_CATEGORIES, xs, strict=False)]

    assert toy_clf.is_unsure([])
    assert toy_clf.is_unsure(s(0.2, 0.1, 0.05))  # low top score
    assert toy_clf.is_unsure(s(0.45, 0.42, 0.05))  # small margin
    assert not toy_clf.is_unsure(s(0.8, 0.1, 0.05))
    assert not toy_clf.is_unsure(toy_clf.predict("RuntimeError: CUDA out of memory on gpu ram"))


def test_save_load_round_trip(toy_clf, fake_embedder, tmp_path):
    toy_clf.save(tmp_path)
    assert (tmp_path / NPZ_NAME).exists() and (tmp_path / JSON_NAME).exists()
    meta = json.loads((tmp_path / JSON_NAME).read_text())
    assert meta["embed_model"] == fake_embedder.model_id and meta["dim"] == fake_embedder.dim
    loaded = TaxonomyClassifier.load(tmp_path, fake_embedder)
    for q in ["space hosting broken", "csv dataset rows", "slow seconds", "nothing relevant"]:
        a, b = toy_clf.predict(q, k=5), loaded.predict(q, k=5)
        assert [(x.category, x.subcategory) for x in a] == [(x.category, x.subcategory) for x in b]
        assert np.allclose([x.score for x in a], [x.score for x in b], atol=1e-4)


def test_load_refuses_other_embedder(toy_clf, tmp_path):
    toy_clf.save(tmp_path)
    with pytest.raises(IndexMismatchError, match="Rebuild"):
        TaxonomyClassifier.load(tmp_path, FakeEmbedder(model_id="other-model"))
    with pytest.raises(IndexMismatchError):
        TaxonomyClassifier.load(tmp_path, FakeEmbedder(dim=32, model_id="fake-hash-64"))


def test_load_missing_or_corrupt(toy_clf, fake_embedder, tmp_path):
    with pytest.raises(IndexCorruptError, match="builder build"):
        TaxonomyClassifier.load(tmp_path, fake_embedder)
    toy_clf.save(tmp_path)
    (tmp_path / NPZ_NAME).write_bytes(b"not an npz")
    with pytest.raises(IndexCorruptError):
        TaxonomyClassifier.load(tmp_path, fake_embedder)
    # an index written before the word n-gram vocabulary was saved: rebuild, says so
    meta = json.loads((tmp_path / JSON_NAME).read_text())
    (tmp_path / JSON_NAME).write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(IndexMismatchError, match="format 1.*Rebuild"):
        TaxonomyClassifier.load(tmp_path, fake_embedder)


def test_unfitted_and_empty_training(fake_embedder):
    with pytest.raises(RuntimeError, match="fit"):
        TaxonomyClassifier().predict("x")
    with pytest.raises(ValueError, match="read_taxonomy"):
        TaxonomyClassifier().fit([], [], {}, fake_embedder)


def test_label_threads(toy_clf):
    _, threads, _ = _toy()
    out = toy_clf.label_threads(threads)
    assert len(out) == len(threads)
    assert out[0] is threads[0]  # study label kept as is
    assert (out[1].category, out[1].label_source) == ("Spaces", "derived")
    assert 0.0 < out[1].confidence <= 1.0
    assert out[2].category == "Dataset Acquisition & Usage"
    assert out[3].category is None  # no codes: left unlabelled
    assert threads[1].category is None  # inputs not mutated


_POST = """Space stops after my training script runs
Hi, my space keeps crashing after a while. Here is the app:
```
from datasets import load_dataset
ds = load_dataset("imdb")
trainer.train()
```
Traceback (most recent call last):
  File "app.py", line 3, in <module>
    trainer.train()
ValueError: too many values to unpack
any idea?"""


def test_prepare_text_splits_title_prose_and_code():
    prep = prepare_text(_POST)
    assert prep.title == "Space stops after my training script runs"
    assert "load_dataset" not in prep.prose and "File \"app.py\"" not in prep.prose
    assert "load_dataset" in prep.code and "Traceback" in prep.code
    assert "ValueError: too many values to unpack" in prep.prose  # error line kept
    assert prep.prose.endswith("any idea?") or "any idea?" in prep.prose
    short = prepare_text("How do I load a csv?  Thanks.")
    assert short.prose == "How do I load a csv? Thanks." and short.title == "How do I load a csv?"
    assert prepare_text("").prose == ""


def test_windows_cut_long_prose():
    prose = " ".join(f"Sentence number {i} is here." for i in range(200))
    wins = windows(prose, size=300, limit=3)
    assert len(wins) == 3 and all(len(w) <= 300 for w in wins)
    assert wins[0].startswith("Sentence number 0") and prose.startswith(wins[0])
    assert windows("short", size=300) == ["short"]
    assert all(len(w) <= 50 for w in windows("x" * 120, size=50, limit=5))


def test_cues_in_code_count_less(toy_clf):
    i = CHALLENGE_CATEGORIES.index
    boosts, _ = toy_clf.cue_boosts(_POST)
    prose_only, _ = keyword_boosts(prepare_text(_POST).prose, toy_clf.boost_scale)
    full, _ = keyword_boosts(_POST, toy_clf.boost_scale)
    ds = i("Dataset Acquisition & Usage")
    assert prose_only[ds] == 0 and 0 < boosts[ds] < full[ds]  # load_dataset only in code
    assert boosts[i("Spaces")] == full[i("Spaces")] > 0  # "my space" is in the prose


def test_featurize_mixes_title_for_long_text(toy_clf, fake_embedder):
    short = "csv dataset rows"
    v_short = toy_clf.featurize([short])[0]
    assert np.allclose(v_short, fake_embedder.encode([short])[0], atol=1e-5)  # own title
    v_post = toy_clf.featurize([_POST])[0]
    assert np.linalg.norm(v_post) == pytest.approx(1.0, abs=1e-4)
    no_title = TaxonomyClassifier(title_weight=0.0)
    no_title.embedder = fake_embedder
    assert not np.allclose(no_title.featurize([_POST])[0], v_post)


def test_merge_explanation():
    scores = [CategoryScore("Dataset Acquisition & Usage", "", 0.46),
              CategoryScore("Training Pipeline", "Training", 0.3),
              CategoryScore("Incomprehensible output", "", 0.1)]

    def exp(kinds, cats):
        return Explanation("t", kinds, "a", {}, None, [], [CategoryScore(c, "", s) for c, s in cats])

    merged = merge_explanation(scores, exp(["label_ids"], [("Incomprehensible output", 0.9)]))
    assert merged[0].category == "Incomprehensible output"
    assert merged[0].score == pytest.approx(0.5 * 0.1 + 0.5, abs=1e-3)
    assert [s.category for s in merged[1:]] == ["Dataset Acquisition & Usage", "Training Pipeline"]
    assert merged[2].subcategory == "Training"
    # nothing specific recognised: the classifier's ranking stands
    assert merge_explanation(scores, exp(["unknown"], [("Incomprehensible output", 0.9)])) == scores
    assert merge_explanation(scores, None) == scores


@pytest.mark.slow
def test_real_minilm_on_dev_set(corpus_dir, tmp_path):
    """Fit on the real codebook, root causes and guidance; score the held-out dev set."""
    from advisor.embedding import get_embedder
    from builder.report import SourceReport
    from builder.sources.taxonomy import read_taxonomy
    from builder.sources.threads import read_threads

    embedder = get_embedder("packaged:all-MiniLM-L6-v2")
    taxonomy = read_taxonomy(corpus_dir, SourceReport("taxonomy"))
    threads = read_threads(corpus_dir, SourceReport("threads"))
    clf = TaxonomyClassifier().fit(taxonomy, threads, load_guidance(), embedder)
    clf.save(tmp_path)
    clf = TaxonomyClassifier.load(tmp_path, embedder)

    dev = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    preds = clf.predict_many([d["question"] for d in dev], k=3)
    top1 = np.mean([p[0].category == d["category"] for d, p in zip(dev, preds, strict=True)])
    top3 = np.mean([d["category"] in [s.category for s in p] for d, p in zip(dev, preds, strict=True)])
    assert top1 >= DEV_TOP1_MIN, f"dev top-1 {top1:.3f}"
    assert top3 >= DEV_TOP3_MIN, f"dev top-3 {top3:.3f}"
    # unsure answers should be the less accurate ones
    unsure = np.array([clf.is_unsure(p) for p in preds])
    right = np.array([p[0].category == d["category"] for d, p in zip(dev, preds, strict=True)])
    assert 0 < unsure.sum() < len(dev) and right[~unsure].mean() > right[unsure].mean()
    # the deciding words come first in the evidence, and they are the question's own words
    said = [(d["question"].lower(), p[0].evidence[0]) for d, p in zip(dev, preds, strict=True)
            if p[0].evidence and p[0].evidence[0].startswith("the words ")]
    assert len(said) >= len(dev) // 2
    for question, line in said:
        for term in re.findall(r'"([^"]+)"', line):
            assert all(w in question for w in term.split()), (term, question)

    labelled = clf.label_threads(threads[:40])
    assert all(t.category in CHALLENGE_CATEGORIES for t in labelled if t.codes)


def test_knn_vote_follows_the_nearest_labelled_posts(fake_embedder):
    """With only the kNN share, a question takes the category of the labelled posts it is
    nearest to."""
    from advisor.labelled import LabelledText

    taxonomy, threads, guidance = _toy()
    posts = [LabelledText("quokka wombat numbat gpu memory", "Spaces", "", "real_post", "https://x/1"),
             LabelledText("quokka wombat numbat gpu", "Spaces", "", "real_post", "https://x/2"),
             LabelledText("csv columns rows", "Dataset Acquisition & Usage", "", "real_post", "")]
    knn_only = TaxonomyClassifier(lr_weight=0.0, lex_weight=0.0, knn_weight=1.0, boost_scale=0.0)
    knn_only.fit(taxonomy, threads, guidance, fake_embedder, posts)
    assert knn_only.predict("quokka wombat numbat gpu memory")[0].category == "Spaces"
    assert knn_only.predict("csv columns rows gpu")[0].category == "Dataset Acquisition & Usage"
    vote = knn_only._knn_vote(knn_only.featurize(["csv columns rows"]))
    assert vote.shape == (1, len(CHALLENGE_CATEGORIES)) and vote.sum() == pytest.approx(1.0)


def test_labelled_posts_take_train_posts_and_the_tune_half_only(tmp_path):
    from advisor.eval import split_of
    from advisor.labelled import labelled_posts

    urls = [f"https://example.org/q/{i}" for i in range(40)]
    tune = next(u for u in urls if split_of(u) == "tune")
    test = next(u for u in urls if split_of(u) == "test")
    row = {"question": "q", "category": "Spaces", "subcategory": ""}
    (tmp_path / "train_posts.jsonl").write_text(json.dumps({**row, "source_url": test}) + "\n")
    (tmp_path / "real_questions.jsonl").write_text(
        "".join(json.dumps({**row, "source_url": u}) + "\n" for u in (tune, test)))
    got = [p.url for p in labelled_posts(tmp_path)]
    assert got == [test, tune]  # every train post; of the questions only the tune half


def test_keyword_cues_are_data_and_bad_entries_are_clear_errors(tmp_path):
    from advisor.errors import KnowledgeBaseError
    from advisor.labelled import CUES_FILE, load_cues

    cues = load_cues()
    assert cues and CUES_FILE.name == "category_cues.yaml"
    assert {c.category for _, c in cues} <= set(CHALLENGE_CATEGORIES)
    for name, data in {"cat.yaml": [{"category": "Nope", "cues": [{"pattern": "x"}]}],
                       "rx.yaml": [{"category": "Spaces", "cues": [{"pattern": "(x"}]}]}.items():
        path = tmp_path / name
        path.write_text(json.dumps(data))
        with pytest.raises(KnowledgeBaseError, match=name):
            load_cues(path)


def test_a_post_item_reads_back_as_written():
    from advisor.evidence import post_item, read_post_item, without_words_items, words_item

    assert read_post_item(post_item('a (quoted) "post"', "https://x/1")) == (
        'a (quoted) "post"', "https://x/1")
    assert read_post_item(post_item("no link")) == ("no link", "")
    assert read_post_item(words_item(["oom", "batch"])) is None
    assert without_words_items(f'by {words_item(["oom", "batch"])}; done') == "by ; done"
