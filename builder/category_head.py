"""Build stage: fine-tune MiniLM to name the challenge category of real posts.

:func:`fit_category_head` fine-tunes the embedding model's transformer (the packaged
all-MiniLM-L6-v2 by default) with one linear layer over its mean-pooled, L2-normalised
output, by cross-entropy on the labelled real posts (``source == "real_post"``:
``eval/train_posts.jsonl`` and the ``tune`` half of ``eval/real_questions.jsonl``). It
runs under CPU bf16 autocast where the CPU has native bf16
(:func:`advisor.embedding.native_bf16`), else in fp32. :meth:`FittedHead.save` writes the
layout :class:`advisor.category_head.CategoryHead` reads: the transformer exported to ONNX
(:func:`advisor.embedding.export_onnx`), its ``tokenizer.json``, ``encoder.json`` and
``head.npz``.

Why: 5-fold CV over 2,927 labelled posts (``python -m bench.category_head_cv``, see
``bench/RESULTS.md``, twenty-eighth pass): the head alone 0.639 top-1, the classifier's
mixture 0.658, the mixture with the head at 0.3 0.679 (top-3 0.876 -> 0.889).

:func:`fit_text_head` is the same fine-tune for any texts and label set
(``bench/task_head_cv.py`` tries it on the labelled requests' tasks).

This module imports torch and transformers; the app never imports it. It does not decide
how much the head counts (:mod:`advisor.classifier`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advisor.category_head import HEAD_FILE, HEAD_FORMAT_VERSION, HEAD_MODEL_PREFIX, head_input
from advisor.embedding import (
    ONNX_EXPORT_VERSION,
    QUERY_ENCODER_META,
    QUERY_ENCODER_MODEL,
    QUERY_ENCODER_TOKENIZER,
    export_onnx,
    native_bf16,
    resolve_model_dir,
)
from advisor.labelled import LabelledText
from advisor.taxonomy import CHALLENGE_CATEGORIES

log = logging.getLogger(__name__)

# --- settings, each with its reason (CV above, 5 folds of 2,927 posts) -------------------
MAX_LEN = 128  # tokens: the title and first paragraph, where the struggle is stated; also
# MiniLM's training length. 0.7 s per batch of 16 with bf16 on 2 cores.
BATCH = 16
LEARNING_RATE = 5e-5  # the transformer's; the new linear layer learns at HEAD_LEARNING_RATE
HEAD_LEARNING_RATE = 1e-3
WARMUP = 0.1  # share of the steps with a rising learning rate; then linear decay to 0
SCALE = 20.0  # logits = SCALE * cosine-like score: normalised vectors give small dot products
SEED = 0
HEAD_SOURCES = ("real_post",)  # only real posts train the head


@dataclass
class FittedHead:
    """A fine-tuned encoder + linear layer in memory (torch)."""

    model: object  # the torch module (encoder + linear layer)
    tokenizer: object
    base_model: str
    max_len: int = MAX_LEN
    losses: list[float] = field(default_factory=list)  # mean loss of each epoch
    seconds: float = 0.0
    n_texts: int = 0
    classes: tuple[str, ...] = tuple(CHALLENGE_CATEGORIES)  # the linear layer's rows, in order

    def proba(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        """(n, n_categories) probabilities in fp32 torch (what the ONNX export reproduces)."""
        import torch

        out = []
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(texts), batch):
                enc = _encode(self.tokenizer, texts[i:i + batch], self.max_len)
                out.append(torch.softmax(self.model(enc["input_ids"], enc["attention_mask"],
                                                    enc["token_type_ids"]), -1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def save(self, out_dir: Path | str, model_prefix: str = HEAD_MODEL_PREFIX) -> dict:
        """Write ``out_dir`` (must not exist yet) for :meth:`CategoryHead.load`; returns
        the ``encoder.json`` content (its ``model_id`` is ``model_prefix`` + the base)."""
        out = Path(out_dir)
        if out.exists():
            raise FileExistsError(f"{out} exists; the category head is written into a new directory")
        with tempfile.TemporaryDirectory(prefix="category-head-") as tmp:
            self.model.encoder.save_pretrained(tmp)  # type: ignore[attr-defined]
            export_onnx(Path(tmp), out / QUERY_ENCODER_MODEL)  # creates ``out``
        out.chmod(0o755)  # made by mkdtemp (0700); the index's other folders are 0755
        base_dir = resolve_model_dir(self.base_model)
        shutil.copy2(base_dir / "tokenizer.json", out / QUERY_ENCODER_TOKENIZER)
        pad = getattr(self.tokenizer, "pad_token", None) or "[PAD]"
        meta = {"model_id": model_prefix + self.base_model,
                "dim": int(self.model.linear.in_features),  # type: ignore[attr-defined]
                "max_seq_length": self.max_len, "pad_token": pad,
                "export_version": ONNX_EXPORT_VERSION}
        (out / QUERY_ENCODER_META).write_text(json.dumps(meta, indent=2, sort_keys=True), "utf-8")
        lin = self.model.linear  # type: ignore[attr-defined]
        np.savez(out / HEAD_FILE, weight=lin.weight.detach().float().numpy(),
                 bias=lin.bias.detach().float().numpy(), scale=np.float32(SCALE),
                 categories=np.array(list(self.classes)),
                 format_version=np.int64(HEAD_FORMAT_VERSION))
        return meta


def _encode(tokenizer, texts: Sequence[str], max_len: int):
    return tokenizer([head_input(t) for t in texts], truncation=True, max_length=max_len,
                     padding=True, return_tensors="pt", return_token_type_ids=True)


def mean_pool(hidden, attention_mask):
    """The mean of ``hidden`` over the tokens ``attention_mask`` keeps, L2-normalised in
    fp32: the sentence vector of a mean-pooling sentence-transformers model."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def warmup_linear(opt, steps: int):
    """The schedule of every fine-tune here: the learning rate rises over the first
    :data:`WARMUP` share of ``steps``, then falls linearly to 0."""
    import torch

    warm = max(1.0, WARMUP * steps)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / steps))


def _module(model_dir: Path, n_classes: int):
    import torch
    from transformers import AutoModel

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_dir))
            self.linear = torch.nn.Linear(self.encoder.config.hidden_size, n_classes)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            return SCALE * self.linear(mean_pool(hidden, attention_mask))

    return Head()


def fit_category_head(texts: Sequence[LabelledText], base_model: str, epochs: float,
                      max_len: int = MAX_LEN, bf16: bool | None = None,
                      disable_progress: bool = False) -> FittedHead:
    """Fine-tune on the ``real_post`` texts among ``texts``; see the module docstring.

    Args:
        texts: labelled texts (other sources are skipped).
        base_model: the embedding model (``Config.embed_model``), a sentence-transformers
            directory with mean pooling; its transformer is what gets fine-tuned.
        epochs: passes over the posts (a fraction runs that share of one pass).
        bf16: autocast to bf16; None = where the CPU has it natively.

    Raises:
        ValueError: no real post, or fewer than two categories among them.
    """
    posts = [t for t in texts if t.source in HEAD_SOURCES and t.category in CHALLENGE_CATEGORIES]
    if len({t.category for t in posts}) < 2:
        raise ValueError("The category head needs labelled real posts of at least two categories "
                         "(eval/train_posts.jsonl); set ADVISOR_CATEGORY_HEAD_EPOCHS=0 to build "
                         "without it.")
    return fit_text_head([t.text for t in posts], [t.category for t in posts],
                         CHALLENGE_CATEGORIES, base_model, epochs, max_len=max_len, bf16=bf16,
                         disable_progress=disable_progress, what="category head")


def fit_text_head(texts: Sequence[str], labels: Sequence[str], classes: Sequence[str],
                  base_model: str, epochs: float, max_len: int = MAX_LEN,
                  bf16: bool | None = None, disable_progress: bool = False,
                  what: str = "head") -> FittedHead:
    """Fine-tune ``base_model`` + a linear layer to name ``labels[i]`` (one of ``classes``)
    of ``texts[i]``, by cross-entropy; the schedule is the module's settings.

    Raises:
        ValueError: a label outside ``classes``, or no text.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({lab for lab in labels if lab not in index})
    if unknown or not texts:
        raise ValueError(f"Cannot fine-tune the {what}: {len(texts)} texts, labels outside the "
                         f"classes: {unknown[:5]}")
    started = time.perf_counter()
    torch.manual_seed(SEED)
    model_dir = resolve_model_dir(base_model)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = _module(model_dir, len(classes))
    model.train()
    bf16 = native_bf16() if bf16 is None else bf16
    y = torch.tensor([index[lab] for lab in labels])
    per_epoch = -(-len(texts) // BATCH)
    steps = max(1, round(per_epoch * epochs))
    opt = torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": LEARNING_RATE},
                             {"params": model.linear.parameters(), "lr": HEAD_LEARNING_RATE}],
                            weight_decay=0.01)
    sched = warmup_linear(opt, steps)
    gen = torch.Generator().manual_seed(SEED)
    losses: list[float] = []
    step = 0
    bar = tqdm(total=steps, desc=f"Fine-tuning the {what}", unit="batch",
               disable=disable_progress)
    while step < steps:
        epoch_loss, n = 0.0, 0
        for idx in torch.randperm(len(texts), generator=gen).split(BATCH):
            if step >= steps:
                break
            enc = _encode(tokenizer, [texts[i] for i in idx], max_len)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            loss = torch.nn.functional.cross_entropy(logits.float(), y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            epoch_loss += float(loss.detach()) * len(idx)
            n += len(idx)
            step += 1
            bar.update(1)
        losses.append(epoch_loss / max(1, n))
    bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    log.info("%s fine-tuned on %d texts, %d steps in %.0f s (bf16 %s); epoch losses %s",
             what.capitalize(), len(texts), steps, seconds, bf16, [round(x, 3) for x in losses])
    return FittedHead(model=model, tokenizer=tokenizer, base_model=base_model, max_len=max_len,
                      losses=losses, seconds=seconds, n_texts=len(texts), classes=tuple(classes))
