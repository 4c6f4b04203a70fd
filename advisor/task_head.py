"""The task head at question time: MiniLM fine-tuned on labelled real model requests.

The builder (:mod:`builder.task_head`) fine-tunes the embedding model's transformer with
one linear layer, the category head's recipe (:func:`builder.category_head.fit_text_head`),
to name the Hub pipeline tag that each labelled training request needs
(``eval/train_requests.jsonl``). It writes ``index/task_head/`` in the layout of
``index/category_head/`` (ONNX encoder, tokenizer, ``head.npz`` whose class names are
pipeline tags).

Why: the task model (:mod:`advisor.taskmodel`) learns mostly from how model cards
*describe* tasks; the head learns only from how people *ask* for them, end to end.
:class:`advisor.understanding.RequestUnderstanding` mixes :meth:`TaskHead.votes` into its
task reading with :data:`W_HEAD` (see ``bench/RESULTS.md``, thirty-seventh pass, and
``python -m bench.task_head_cv --by-batch``). Without the directory (an older index, a
quick build, or ``ADVISOR_TASK_HEAD_EPOCHS=0``) the reading goes on without it.

This module does not train anything, and it does not read languages, sizes or licences.
"""

from __future__ import annotations

import functools
from pathlib import Path

from advisor.category_head import CategoryHead

TASK_HEAD_DIR = "task_head"  # inside the index
TASK_HEAD_MODEL_PREFIX = "task-head:"  # encoder.json model_id: this prefix + the base model
# Share of the head's vote in the task reading (advisor.taskmodel.blend right after the
# task model). `python -m bench.task_head_cv --by-batch` (2,098 labelled requests, each
# collection batch held out whole; twenty-ninth pass): task accuracy 0.807 without the
# head, 0.815 / 0.823 / 0.820 / 0.816 at 0.2 / 0.4 / 0.5 / 0.7. Shipped in the
# thirty-seventh pass: 89 fresh requests read before they were learned, task accuracy
# 0.719 -> 0.753 and hit@5 0.730 -> 0.742 with the head (bench/RESULTS.md).
W_HEAD = 0.4
VOTES_CACHE = 256  # requests whose votes are kept (a few hundred bytes each)


class TaskHead:
    """The fine-tuned encoder and linear layer whose classes are pipeline tags."""

    def __init__(self, head: CategoryHead):
        self.head = head
        self.classes: list[str] = list(head.classes)
        # one request is read more than once (the intent gate, then the recommender)
        self._cached = functools.lru_cache(maxsize=VOTES_CACHE)(self._votes)

    def _votes(self, text: str) -> tuple[float, ...]:
        return tuple(float(x) for x in self.head.proba([text])[0])

    def votes(self, text: str) -> dict[str, float]:
        """``{pipeline tag: probability}`` for one request (sums to 1)."""
        return dict(zip(self.classes, self._cached(text), strict=True))

    @classmethod
    def load(cls, index_dir: Path | str | None) -> TaskHead | None:
        """The head in ``index_dir/task_head``, or None when the index has none.

        Raises:
            IndexCorruptError: files present but unreadable.
            IndexMismatchError: another head format.
        """
        if index_dir is None:
            return None
        head = CategoryHead.load(Path(index_dir) / TASK_HEAD_DIR, classes=None)
        return cls(head) if head is not None else None
