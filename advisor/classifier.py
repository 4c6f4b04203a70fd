"""Question -> challenge category of the SANER 2024 taxonomy (codebook names), with a
subcategory and a 0..1 score, plus a flag for when the answer should say it is unsure.

How it decides (all fitted at build time; the state lands in the index dir), from the
labelled texts of :mod:`advisor.labelled` (real labelled posts, the codebook's definitions
and examples, the root-cause question codes, the guidance's typical questions, and the
known-issue entries' examples and descriptions, which the builder adds):

1. **Embedding classifier**: multinomial logistic regression on sentence embeddings.
2. **Word n-grams**: logistic regression on TF-IDF word 1-2 grams
   (:mod:`advisor.ngrams`; names the embedding blurs: ``config.json``, ``Trainer``).
3. **Nearest labelled posts**: the categories of the real posts closest to the question
   vote, weighted by similarity.
4. **Prototypes**: cosine similarity to the mean embedding of each category's texts
   (robust for categories with few examples), turned into a distribution by a softmax.
5. **Keyword cues** (data, ``prompts/category_cues.yaml``): strong signals that add a
   little mass to a category and may name the subcategory.
6. **Fine-tuned head** (:mod:`advisor.category_head`), when the index has one: MiniLM
   fine-tuned on the labelled real posts at build time; its probabilities take
   ``head_weight`` of the final scores.

The mixture is a probability vector over the 17 categories (scores sum to 1), so the top
score reads as a rough confidence; :meth:`TaxonomyClassifier.is_unsure` flags a low top
score or a small margin. The subcategory is the nearest subcategory prototype within the
chosen category, unless a keyword cue names one. Evidence for a decision is the
question's words that raised that category most (:meth:`advisor.ngrams.NgramClassifier.reasons`)
and the nearest labelled real posts of that category.

This module does not read corpus files (the builder passes the entries and threads in),
does not retrieve evidence, and never stores training text beyond short snippets of our
own labelled posts: only vectors, coefficients and names are saved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advisor.category_head import HEAD_DIR, CategoryHead
from advisor.embedding import Embedder
from advisor.errors import IndexCorruptError, IndexMismatchError
from advisor.evidence import post_item, words_item
from advisor.labelled import (
    LabelledText,
    keyword_boosts,
    label_threads,
    nearest_weights,
    prepare_text,
    training_texts,
    windows,
)
from advisor.ngrams import NgramClassifier, all_classes
from advisor.taxonomy import CHALLENGE_CATEGORIES
from advisor.types import CategoryScore, TaxonomyEntry, ThreadInfo

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: TF-IDF word n-grams (vocabulary and idf saved) replace hashed
# ones; 3: the vocabulary is one newline-joined string (16 -> 8 MB)
# Bump when fitting or featurising changes (e.g. 2: title + prose windows): the builder
# puts it in the digest that decides whether a previous fit can be reused.
FEATURES_VERSION = 6  # 3: real posts join the training texts; 4: kNN vote, the tune
# half joins them; 5: the known-issue texts join them; 6: TF-IDF word n-grams
NPZ_NAME = "classifier.npz"
JSON_NAME = "classifier.json"

# --- defaults, each with its reason ----------------------------------------------------
# The mixture below was chosen by 5-fold CV over the real labelled posts (codebook texts
# always train; bench/RESULTS.md, 25th pass): `bench.category_cv --pool all` on 2,675
# posts 0.646 / 0.874 (hashed n-grams) -> 0.662 / 0.878 (TF-IDF n-grams, lr .2 / lex .5).
DEFAULT_C = 16.0  # logistic-regression inverse regularisation of the embedding classifier
DEFAULT_LR_WEIGHT = 0.2  # share of the embedding classifier in the mixture
DEFAULT_LEX_WEIGHT = 0.5  # share of the word-n-gram classifier; prototypes get the rest
DEFAULT_LEX_C = 32.0  # word n-gram features are sparse; weaker regularisation fits them
DEFAULT_KNN_WEIGHT = 0.15  # share of the vote of the nearest labelled real posts
DEFAULT_KNN_K = 5  # how many nearest labelled posts vote
DEFAULT_KNN_TEMPERATURE = 0.05  # a post's vote is exp(cosine / T): the nearest count most
DEFAULT_PROTO_TEMPERATURE = 0.05  # MiniLM cosine gaps between category prototypes are
# a few hundredths, so this spreads them over a usable 0..1 range
DEFAULT_BOOST_SCALE = 0.5  # multiplies every keyword cue's weight (CV: 0.5 -> 0.70 / posts
# 0.81, 0 -> 0.71 / 0.79); at 0.5 they still pick subcategories
# Share of the fine-tuned head (advisor.category_head) when the index has one. 5-fold CV,
# 2,927 posts (bench.category_head_cv): 0 -> top-1 0.658 / top-3 0.876; 0.2 -> 0.670 /
# 0.889; 0.3 -> 0.679 / 0.889; 0.4 -> 0.676 / 0.891; 0.5 -> 0.671; head alone 0.639.
DEFAULT_HEAD_WEIGHT = 0.3
DEFAULT_UNSURE_TOP = 0.35  # top score below this: say the category is a guess
DEFAULT_UNSURE_MARGIN = 0.08  # top two within this: say it could be either
DEFAULT_TITLE_WEIGHT = 0.3  # share of the title in a long post's vector (10-fold CV top-1,
# root-cause codes / codebook examples: 0 -> 0.60 / 0.60, 0.3 -> 0.64 / 0.62, 0.5 -> 0.64 / 0.57)
DEFAULT_CODE_CUE_FACTOR = 0.5  # keyword cues found only in code/tracebacks count half:
# a Spaces question that pastes a training script is not a Training Pipeline question
SOURCE_WEIGHTS = {"root_cause": 2.0, "guidance": 1.0, "definition": 1.0, "example": 0.7,
                  "real_post": 1.0}
EVIDENCE_POSTS = 2  # nearest labelled real posts shown as the evidence for a category
MIN_EVIDENCE_SIMILARITY = 0.45  # below this cosine a "similar post" is not similar
EVIDENCE_CHARS = 110


def _snippet(text: str, n: int = EVIDENCE_CHARS) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 3].rsplit(" ", 1)[0] + "..."


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _unreadable(directory: Path, error: Exception) -> IndexCorruptError:
    return IndexCorruptError(f"Taxonomy classifier in {directory} is unreadable ({error}). "
                             "Rebuild the index with `python -m builder build`.")


class TaxonomyClassifier:
    """See the module docstring. Typical use::

        clf = TaxonomyClassifier().fit(taxonomy, threads, guidance, embedder)
        clf.predict("CUDA out of memory when fine-tuning")  # -> [CategoryScore, ...]
        clf.save(index_dir); TaxonomyClassifier.load(index_dir, embedder)
    """

    def __init__(
        self,
        c: float = DEFAULT_C,
        lr_weight: float = DEFAULT_LR_WEIGHT,
        lex_weight: float = DEFAULT_LEX_WEIGHT,
        lex_c: float = DEFAULT_LEX_C,
        proto_temperature: float = DEFAULT_PROTO_TEMPERATURE,
        boost_scale: float = DEFAULT_BOOST_SCALE,
        unsure_top: float = DEFAULT_UNSURE_TOP,
        unsure_margin: float = DEFAULT_UNSURE_MARGIN,
        title_weight: float = DEFAULT_TITLE_WEIGHT,
        knn_weight: float = DEFAULT_KNN_WEIGHT,
        head_weight: float = DEFAULT_HEAD_WEIGHT,
    ):
        self.title_weight = title_weight
        self.head_weight = head_weight
        self.head: Any = None  # advisor.category_head.CategoryHead (proba(texts)), or None
        self.knn_weight = knn_weight
        self.c = c
        self.lr_weight = lr_weight
        self.lex_weight = lex_weight
        self.lex_c = lex_c
        self.proto_temperature = proto_temperature
        self.boost_scale = boost_scale
        self.unsure_top = unsure_top
        self.unsure_margin = unsure_margin
        self.categories: list[str] = list(CHALLENGE_CATEGORIES)
        self.embedder: Embedder | None = None
        self.embed_model: str = ""
        self.dim: int = 0
        self.coef: np.ndarray | None = None  # (n_categories, dim)
        self.intercept: np.ndarray | None = None  # (n_categories,)
        self.lex: NgramClassifier | None = None  # the word n-gram part
        self.protos: np.ndarray | None = None  # (n_categories, dim), L2-normalised
        self.sub_protos: np.ndarray | None = None  # (n_subs, dim), L2-normalised
        self.sub_labels: list[tuple[str, str]] = []  # (category, subcategory) per row
        self.counts: dict[str, int] = {}
        self.post_vecs: np.ndarray | None = None  # (n_posts, dim) labelled real posts
        self.post_meta: list[tuple[str, str, str]] = []  # (category, snippet, url) per row

    # ---------------------------------------------------------------- fitting
    def fit(
        self,
        taxonomy: Sequence[TaxonomyEntry],
        threads: Sequence[ThreadInfo],
        guidance: Mapping[str, Any] | None,
        embedder: Embedder,
        posts: Sequence[LabelledText] = (),
    ) -> TaxonomyClassifier:
        """Embed the labelled texts (a few hundred short ones) and fit all parts."""
        return self.fit_texts(training_texts(taxonomy, threads, guidance, posts), embedder)

    def fit_texts(self, texts: Sequence[LabelledText], embedder: Embedder) -> TaxonomyClassifier:
        """Fit on already collected labelled texts (cross-validation folds use this)."""
        if not texts:
            raise ValueError(
                "No labelled text to train the taxonomy classifier: pass the codebook "
                "entries (builder.sources.taxonomy.read_taxonomy) or the guidance."
            )
        vecs = self.featurize([t.text for t in texts], embedder)  # (n, dim) float32
        self.embedder = embedder
        self.embed_model = embedder.model_id
        self.dim = int(vecs.shape[1])
        self._fit_vectors(texts, vecs)
        log.info(
            "Taxonomy classifier fitted on %d texts (%s) with %s",
            len(texts),
            ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())),
            self.embed_model,
        )
        return self

    def _fit_vectors(self, texts: Sequence[LabelledText], vecs: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        cat_index = {c: i for i, c in enumerate(self.categories)}
        y = np.array([cat_index[t.category] for t in texts])
        w = np.array([SOURCE_WEIGHTS.get(t.source, 1.0) for t in texts])
        self.counts = {}
        for t in texts:
            self.counts[t.source] = self.counts.get(t.source, 0) + 1
        lr = None
        if len(np.unique(y)) >= 2:
            lr = LogisticRegression(C=self.c, max_iter=2000).fit(vecs, y, sample_weight=w)
        coef, intercept = all_classes(lr, y, len(self.categories), vecs.shape[1])
        self.coef, self.intercept = coef, intercept
        self.lex = NgramClassifier.fit([t.text for t in texts], y, len(self.categories), w,
                                       self.lex_c)
        self.protos = self._prototypes(vecs, [t.category for t in texts], self.categories)
        sub_keys = sorted({(t.category, t.subcategory) for t in texts if t.subcategory})
        self.sub_labels = sub_keys
        self.sub_protos = self._prototypes(
            vecs, [(t.category, t.subcategory) for t in texts], sub_keys
        )
        rows = [i for i, t in enumerate(texts) if t.source == "real_post"]
        self.post_vecs = vecs[rows].astype(np.float32) if rows else np.zeros((0, vecs.shape[1]), np.float32)
        self.post_meta = [(texts[i].category, _snippet(texts[i].text), texts[i].url) for i in rows]

    @staticmethod
    def _prototypes(vecs: np.ndarray, labels: Sequence[Any], keys: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(keys), vecs.shape[1]), dtype=np.float32)
        pos = {k: i for i, k in enumerate(keys)}
        for v, lab in zip(vecs, labels, strict=True):
            if lab in pos:
                out[pos[lab]] += v
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    def featurize(self, texts: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
        """(n, dim) L2-normalised vectors: the mean of the prose windows' embeddings,
        mixed with the title's embedding by ``title_weight`` (a text that is its own
        title is embedded once). Every distinct piece is embedded once per call."""
        emb = embedder or self.embedder
        if emb is None:
            raise RuntimeError("TaxonomyClassifier is not fitted: call fit() or load() first.")
        plans: list[tuple[list[str], str]] = []
        pieces: dict[str, int] = {}
        for t in texts:
            prep = prepare_text(t)
            wins = windows(prep.prose)
            plans.append((wins, prep.title))
            for piece in [*wins, prep.title]:
                pieces.setdefault(piece, len(pieces))
        if not plans:
            return np.zeros((0, getattr(emb, "dim", self.dim) or 0), dtype=np.float32)
        pvecs = np.asarray(emb.encode(list(pieces)), dtype=np.float32)
        out = np.zeros((len(plans), pvecs.shape[1]), dtype=np.float32)
        for i, (wins, title) in enumerate(plans):
            body = pvecs[[pieces[w] for w in wins]].mean(axis=0)
            body /= np.linalg.norm(body) or 1.0
            if wins != [title] and self.title_weight > 0:
                body = (1 - self.title_weight) * body + self.title_weight * pvecs[pieces[title]]
            out[i] = body / (np.linalg.norm(body) or 1.0)
        return out

    def cue_boosts(self, text: str) -> tuple[np.ndarray, dict[str, str]]:
        """Keyword boosts of a question: cues in its prose count fully, cues found only in
        its code or traceback count :data:`DEFAULT_CODE_CUE_FACTOR`."""
        prep = prepare_text(text)
        b_prose, subs = keyword_boosts(prep.prose, self.boost_scale)
        if not prep.code:
            return b_prose, subs
        b_code, subs_code = keyword_boosts(prep.code, self.boost_scale * DEFAULT_CODE_CUE_FACTOR)
        for cat, sub in subs_code.items():
            subs.setdefault(cat, sub)
        return np.maximum(b_prose, b_code), subs

    # ---------------------------------------------------------------- predicting
    def _check_fitted(self) -> None:
        if self.coef is None or self.embedder is None:
            raise RuntimeError("TaxonomyClassifier is not fitted: call fit() or load() first.")

    def proba_vectors(self, vecs: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """(n, n_categories) scores summing to 1, from query vectors and their texts."""
        self._check_fitted()
        assert self.coef is not None and self.intercept is not None and self.protos is not None
        p_lr = _softmax(vecs @ self.coef.T + self.intercept)
        p_proto = _softmax((vecs @ self.protos.T) / self.proto_temperature)
        proto_share = max(0.0, 1.0 - self.lr_weight - self.lex_weight - self.knn_weight)
        mix = self.lr_weight * p_lr + proto_share * p_proto
        if self.lex_weight > 0 and self.lex is not None and len(texts):
            p_lex = _softmax(self.lex.logits(texts))
            mix = mix + self.lex_weight * p_lex
        if self.knn_weight > 0 and self.post_vecs is not None and len(self.post_vecs):
            mix = mix + self.knn_weight * self._knn_vote(vecs)
        boosts = np.stack([self.cue_boosts(t)[0] for t in texts]) if len(texts) else mix * 0
        mix = mix + boosts
        mix = mix / mix.sum(axis=1, keepdims=True)
        if self.head is not None and self.head_weight > 0 and len(texts):
            mix = (1 - self.head_weight) * mix + self.head_weight * self.head.proba(list(texts))
        return mix

    def _knn_vote(self, vecs: np.ndarray, k: int = DEFAULT_KNN_K) -> np.ndarray:
        """(n, n_categories) vote of each vector's ``k`` nearest labelled real posts,
        weighted by ``exp(cosine / T)`` and summing to 1."""
        assert self.post_vecs is not None
        cat_index = {c: i for i, c in enumerate(self.categories)}
        post_cats = np.array([cat_index[m[0]] for m in self.post_meta])
        top, w = nearest_weights(vecs @ self.post_vecs.T, k, DEFAULT_KNN_TEMPERATURE)
        out = np.zeros((len(vecs), len(self.categories)))
        np.add.at(out, (np.arange(len(vecs))[:, None], post_cats[top]), w)
        return out / out.sum(axis=1, keepdims=True)

    def subcategory_for(self, vec: np.ndarray, category: str, cue_subs: dict[str, str]) -> str:
        if category in cue_subs:
            return cue_subs[category]
        if self.sub_protos is None or not self.sub_labels:
            return ""
        rows = [i for i, (c, _) in enumerate(self.sub_labels) if c == category]
        if not rows:
            return ""
        sims = self.sub_protos[rows] @ vec
        return self.sub_labels[rows[int(np.argmax(sims))]][1]

    def predict(self, text: str, k: int = 3) -> list[CategoryScore]:
        """Top-``k`` categories, best first, with a subcategory and a 0..1 score."""
        return self.predict_many([text], k=k)[0]

    def predict_many(self, texts: Sequence[str], k: int = 3) -> list[list[CategoryScore]]:
        self._check_fitted()
        assert self.embedder is not None
        texts = [t or "" for t in texts]
        if not texts:
            return []
        vecs = self.featurize(texts)
        return self._rank(vecs, self.proba_vectors(vecs, texts), texts, k)

    def evidence(self, vec: np.ndarray, category: str, limit: int = EVIDENCE_POSTS) -> list[str]:
        """The labelled real posts nearest to ``vec`` that carry ``category``: what a
        reader can check the decision against ("asked like: ... (url)")."""
        if self.post_vecs is None or not len(self.post_vecs):
            return []
        sims = self.post_vecs @ vec
        out = []
        for j in np.argsort(-sims):
            if float(sims[j]) < MIN_EVIDENCE_SIMILARITY or len(out) >= limit:
                break
            cat, snippet, url = self.post_meta[j]
            if cat == category:
                out.append(post_item(snippet, url))
        return out

    def _rank(self, vecs: np.ndarray, probs: np.ndarray, texts: Sequence[str], k: int) -> list[list[CategoryScore]]:
        out = []
        for vec, p, text in zip(vecs, probs, texts, strict=True):
            cue_subs = self.cue_boosts(text)[1]
            order = np.argsort(-p)[: max(1, k)]
            scores = [
                CategoryScore(
                    category=self.categories[i],
                    subcategory=self.subcategory_for(vec, self.categories[i], cue_subs),
                    score=float(round(p[i], 4)),
                )
                for i in order
            ]
            if scores:
                said = (self.lex.reasons(text, int(order[0]))
                        if self.lex is not None and self.lex_weight > 0 else [])
                words = [words_item(said)] if said else []
                scores[0].evidence = words + self.evidence(vec, scores[0].category)
            out.append(scores)
        return out

    def is_unsure(self, scores: Sequence[CategoryScore]) -> bool:
        """True when the top score is low or the runner-up is close behind."""
        if not scores:
            return True
        top = scores[0].score
        second = scores[1].score if len(scores) > 1 else 0.0
        return top < self.unsure_top or (top - second) < self.unsure_margin

    # ---------------------------------------------------------------- threads
    def label_threads(self, threads: Sequence[ThreadInfo]) -> list[ThreadInfo]:
        """See :func:`advisor.labelled.label_threads`."""
        self._check_fitted()
        return label_threads(self, threads)

    # ---------------------------------------------------------------- persistence
    def state(self) -> dict[str, Any]:
        """The JSON half of the saved state (also what the manifest records)."""
        return {
            "format_version": FORMAT_VERSION,
            "embed_model": self.embed_model,
            "dim": self.dim,
            "categories": self.categories,
            "sub_labels": [list(x) for x in self.sub_labels],
            "params": {
                "c": self.c,
                "lr_weight": self.lr_weight,
                "lex_weight": self.lex_weight,
                "lex_c": self.lex_c,
                "proto_temperature": self.proto_temperature,
                "boost_scale": self.boost_scale,
                "unsure_top": self.unsure_top,
                "unsure_margin": self.unsure_margin,
                "title_weight": self.title_weight,
                "knn_weight": self.knn_weight,
                "head_weight": self.head_weight,
            },
            "counts": self.counts,
            "post_meta": [list(x) for x in self.post_meta],
        }

    def save(self, directory: Path | str) -> None:
        """Write ``classifier.npz`` (arrays) and ``classifier.json`` (names, params)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(
            directory / NPZ_NAME,
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
            **(self.lex.arrays("lex_") if self.lex is not None else {}),
            protos=self.protos,
            sub_protos=self.sub_protos if self.sub_protos is not None else np.zeros((0, self.dim), np.float32),
            post_vecs=self.post_vecs if self.post_vecs is not None else np.zeros((0, self.dim), np.float32),
        )
        (directory / JSON_NAME).write_text(json.dumps(self.state(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path | str, embedder: Embedder) -> TaxonomyClassifier:
        """Read a saved classifier; the embedder must be the one it was fitted with."""
        directory = Path(directory)
        jpath, npath = directory / JSON_NAME, directory / NPZ_NAME
        if not jpath.exists() or not npath.exists():
            raise IndexCorruptError(
                f"No taxonomy classifier in {directory} ({JSON_NAME}/{NPZ_NAME} missing). "
                "Rebuild the index with `python -m builder build`."
            )
        try:
            meta = json.loads(jpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise _unreadable(directory, e) from e
        if meta.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{directory} holds classifier format {meta.get('format_version')}, this "
                f"code reads {FORMAT_VERSION}. Rebuild with `python -m builder build`."
            )
        try:
            arrays = np.load(npath)
            coef, intercept = arrays["coef"], arrays["intercept"]
            lex = NgramClassifier.from_arrays(arrays, "lex_")
            protos, sub_protos = arrays["protos"], arrays["sub_protos"]
            post_vecs = arrays["post_vecs"] if "post_vecs" in arrays.files else None
        except (OSError, ValueError, KeyError) as e:
            raise _unreadable(directory, e) from e
        if meta.get("embed_model") != embedder.model_id or int(meta.get("dim", -1)) != embedder.dim:
            raise IndexMismatchError(
                f"{directory} classifier was fitted with embed model {meta.get('embed_model')} "
                f"(dim {meta.get('dim')}) but the configuration uses {embedder.model_id} "
                f"(dim {embedder.dim}). Rebuild with `python -m builder build --index-dir {directory}`."
            )
        if list(meta.get("categories", [])) != list(CHALLENGE_CATEGORIES):
            raise IndexMismatchError(
                f"{directory} classifier knows other categories than this code. Rebuild with "
                "`python -m builder build`."
            )
        p = meta.get("params", {})
        clf = cls(
            c=p.get("c", DEFAULT_C),
            lr_weight=p.get("lr_weight", DEFAULT_LR_WEIGHT),
            lex_weight=p.get("lex_weight", DEFAULT_LEX_WEIGHT),
            lex_c=p.get("lex_c", DEFAULT_LEX_C),
            proto_temperature=p.get("proto_temperature", DEFAULT_PROTO_TEMPERATURE),
            boost_scale=p.get("boost_scale", DEFAULT_BOOST_SCALE),
            unsure_top=p.get("unsure_top", DEFAULT_UNSURE_TOP),
            unsure_margin=p.get("unsure_margin", DEFAULT_UNSURE_MARGIN),
            title_weight=p.get("title_weight", DEFAULT_TITLE_WEIGHT),
            knn_weight=p.get("knn_weight", 0.0),
            head_weight=p.get("head_weight", DEFAULT_HEAD_WEIGHT),
        )
        clf.embedder = embedder
        clf.embed_model = meta["embed_model"]
        clf.dim = int(meta["dim"])
        clf.coef = coef.astype(np.float64)
        clf.intercept = intercept.astype(np.float64)
        clf.lex = lex
        clf.protos = protos
        clf.sub_protos = sub_protos
        clf.sub_labels = [tuple(x) for x in meta.get("sub_labels", [])]
        clf.counts = dict(meta.get("counts", {}))
        clf.post_meta = [tuple(x) for x in meta.get("post_meta", [])]
        clf.post_vecs = post_vecs if post_vecs is not None and len(post_vecs) == len(clf.post_meta) \
            else np.zeros((0, clf.dim), np.float32)
        if clf.coef.shape != (len(CHALLENGE_CATEGORIES), clf.dim) or len(clf.sub_labels) != len(sub_protos):
            raise IndexCorruptError(
                f"Taxonomy classifier arrays in {directory} disagree with {JSON_NAME}. "
                "Rebuild with `python -m builder build`."
            )
        clf.head = CategoryHead.load(directory / HEAD_DIR)  # None when the index has none
        return clf
