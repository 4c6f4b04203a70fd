"""The category head at question time: MiniLM fine-tuned on labelled real posts.

The builder (:mod:`builder.category_head`) fine-tunes the embedding model's transformer,
with one linear layer over its mean-pooled, L2-normalised output, to name the challenge
category of the labelled real posts (``eval/train_posts.jsonl`` and the ``tune`` half of
``eval/real_questions.jsonl``). It writes ``index/category_head/``:

- ``model.onnx``, ``tokenizer.json``, ``encoder.json``: the fine-tuned transformer in the
  same layout as the query encoder (``index/onnx/``), so :class:`CategoryHead` runs it with
  onnxruntime and tokenizers only (the app never imports torch);
- ``head.npz``: the linear layer (``weight`` (n_categories, dim), ``bias``), the logit
  ``scale`` (logits are ``scale * (weight @ v + bias)``) and the category names, in :data:`advisor.taxonomy.CHALLENGE_CATEGORIES` order.

:class:`advisor.classifier.TaxonomyClassifier` mixes :meth:`CategoryHead.proba` into its
scores (``head_weight``). Without the directory (an older index, or a build with
``ADVISOR_CATEGORY_HEAD_EPOCHS=0``) the classifier runs without it.

This module does not train anything and does not decide how much the head counts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.errors import IndexCorruptError, IndexMismatchError
from advisor.labelled import prepare_text
from advisor.taxonomy import CHALLENGE_CATEGORIES

HEAD_DIR = "category_head"  # inside the index
HEAD_FILE = "head.npz"
HEAD_MODEL_PREFIX = "category-head:"  # encoder.json model_id: this prefix + the base model
HEAD_FORMAT_VERSION = 1


def head_input(text: str) -> str:
    """What the head reads of a question: its title and prose, with the last error lines
    of a traceback but not the code (:func:`advisor.labelled.prepare_text`). The head
    truncates to its maximum length, so the title and first paragraph weigh most."""
    prep = prepare_text(text or "")
    if prep.title and not prep.prose.startswith(prep.title):
        return f"{prep.title}. {prep.prose}"
    return prep.prose


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


class CategoryHead:
    """The fine-tuned encoder (ONNX) and its linear layer; see the module docstring."""

    def __init__(self, encoder, weight: np.ndarray, bias: np.ndarray, scale: float,
                 info: dict | None = None, classes: Sequence[str] = CHALLENGE_CATEGORIES):
        self.encoder = encoder  # anything with encode(texts) -> (n, dim) normalised vectors
        self.weight = np.asarray(weight, dtype=np.float32)  # (n_categories, dim)
        self.bias = np.asarray(bias, dtype=np.float32)  # (n_categories,)
        self.scale = float(scale)
        self.info = dict(info or {})
        self.classes = list(classes)  # the linear layer's rows, in order

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_categories) probabilities, rows summing to 1."""
        if not len(texts):
            return np.zeros((0, len(self.bias)), dtype=np.float32)
        vecs = np.asarray(self.encoder.encode([head_input(t) for t in texts]), dtype=np.float32)
        return _softmax(self.scale * (vecs @ self.weight.T + self.bias))

    @classmethod
    def load(cls, directory: Path | str,
             classes: Sequence[str] | None = CHALLENGE_CATEGORIES) -> CategoryHead | None:
        """The head in ``directory`` (an index's ``category_head/``), or None when the
        index has none. ``classes``: the class names the head must have, in order
        (``None``: whatever it was fitted on, e.g. the pipeline tags of
        :mod:`advisor.task_head`).

        Raises:
            IndexCorruptError: files present but unreadable.
            IndexMismatchError: another format or another list of categories.
        """
        from advisor.embedding import QUERY_ENCODER_META, EmbeddingModelError, OnnxEmbedder

        directory = Path(directory)
        if not directory.is_dir():
            return None
        rebuild = "Rebuild the index with `python -m builder build`."
        try:
            meta = json.loads((directory / QUERY_ENCODER_META).read_text(encoding="utf-8"))
            arrays = np.load(directory / HEAD_FILE)
            weight, bias = arrays["weight"], arrays["bias"]
            scale = float(arrays["scale"])
            categories = [str(c) for c in arrays["categories"]]
            version = int(arrays["format_version"])
        except (OSError, ValueError, KeyError) as e:
            raise IndexCorruptError(f"The head in {directory} is unreadable ({e}). "
                                    f"{rebuild}") from e
        if version != HEAD_FORMAT_VERSION:
            raise IndexMismatchError(f"{directory} holds head format {version}, this "
                                     f"code reads {HEAD_FORMAT_VERSION}. {rebuild}")
        if (classes is not None and categories != list(classes)) or weight.shape[0] != len(categories):
            raise IndexMismatchError(f"The head in {directory} knows other classes than this "
                                     f"code. {rebuild}")
        try:
            encoder = OnnxEmbedder.from_export(directory, str(meta.get("model_id")))
        except EmbeddingModelError as e:
            raise IndexCorruptError(f"The head in {directory} has no usable encoder "
                                    f"({e}). {rebuild}") from e
        if weight.shape[1] != encoder.dim:
            raise IndexCorruptError(f"The head in {directory} does not fit its encoder "
                                    f"(dim {weight.shape[1]} vs {encoder.dim}). {rebuild}")
        return cls(encoder, weight, bias, scale, info={"model_id": meta.get("model_id"),
                                                        "max_seq_length": encoder.max_seq_length},
                   classes=categories)
