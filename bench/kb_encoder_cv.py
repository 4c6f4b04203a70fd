"""Known-issue matching with an encoder fine-tuned on solved posts (issue 10, an
experiment the product does not ship; ``bench/RESULTS.md``, twenty-ninth pass).

:class:`advisor.known_issues.KnownIssueMatcher` reads a question against every entry with
the packaged MiniLM (blended with TF-IDF, plus the solved posts' vote). Real posts
labelled with the entry that holds their accepted fix (``known_issue`` in
``eval/train_posts.jsonl``) and the entries' own ``phrasings`` are pairs of "how people
ask" and "the entry": this script fine-tunes MiniLM on them with in-batch negatives
(:func:`fit_pair_encoder`: mean-pooled, normalised vectors, cross-entropy over 20 x the
cosines of a batch, other pairs of the same entry masked) and matches with it in place of
the packaged model (entries, phrasings, solved posts and questions all embedded by it).

The questions and folds are those of ``python -m bench.kb_vote_cv`` (every non-``test``
question labelled with an entry or with none, folds by a hash of ``source_url``); each
fold's encoder and solved posts come from the other folds. Reported per encoder and
dense share (:data:`advisor.known_issues.W_DENSE`), for the training posts and ``tune``
apart: how often the labelled entry ranks first by meaning, is in the top 3, is shown
(among the matches the answer leads with), and how often a question whose fix is no
entry is shown one anyway (a clean match). ``test`` is never read.

Run: ``python -m bench.kb_encoder_cv [--folds 5] [--epochs 2]`` (needs ``index/``; about
5 minutes a fold on 2 cores with native bf16).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/kb_encoder_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
MAX_LEN = 128
BATCH = 32  # pairs per step: each question's other 31 entries are its negatives
LEARNING_RATE = 3e-5
SCALE = 20.0
DENSE_SHARES = (0.4, 0.6, 0.8)  # the shipped W_DENSE first


class TorchEncoder:
    """A fine-tuned encoder behind the ``encode(texts, batch_size=...)`` the matcher calls."""

    def __init__(self, model, tokenizer, max_len: int = MAX_LEN, model_id: str = "kb-encoder"):
        self.model, self.tokenizer, self.max_len, self.model_id = model, tokenizer, max_len, model_id

    def encode(self, texts: Sequence[str], batch_size: int = 64, **_) -> np.ndarray:
        import torch

        out = []
        step = max(batch_size, 64)  # the matcher asks for 8 (the app's memory); a bench may batch more
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(texts), step):
                enc = self.tokenizer(list(texts[i:i + step]), truncation=True,
                                     max_length=self.max_len, padding=True, return_tensors="pt")
                out.append(self.model(enc["input_ids"], enc["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _encoder_module(model_dir: Path):
    import torch
    from transformers import AutoModel

    from builder.category_head import mean_pool

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_dir))

        def forward(self, input_ids, attention_mask):
            return mean_pool(self.encoder(input_ids=input_ids, attention_mask=attention_mask)
                             .last_hidden_state, attention_mask)

    return Encoder()


def fit_pair_encoder(pairs: Sequence[tuple[str, str, str]], base_model: str, epochs: float,
                     max_len: int = MAX_LEN) -> TorchEncoder:
    """Fine-tune on ``(question, entry text, entry id)`` pairs; see the module docstring."""
    import torch
    from transformers import AutoTokenizer

    from advisor.embedding import native_bf16, resolve_model_dir
    from builder.category_head import warmup_linear

    torch.manual_seed(0)
    model_dir = resolve_model_dir(base_model)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = _encoder_module(model_dir)
    model.train()
    bf16 = native_bf16()
    steps = max(1, round(-(-len(pairs) // BATCH) * epochs))
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    sched = warmup_linear(opt, steps)
    gen = torch.Generator().manual_seed(0)
    step = 0
    while step < steps:
        for idx in torch.randperm(len(pairs), generator=gen).split(BATCH):
            if step >= steps:
                break
            batch = [pairs[i] for i in idx]
            a, p = ([tokenizer([b[k] for b in batch], truncation=True, max_length=max_len,
                               padding=True, return_tensors="pt") for k in (0, 1)])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                va = model(a["input_ids"], a["attention_mask"])
                vp = model(p["input_ids"], p["attention_mask"])
            logits = SCALE * va.float() @ vp.float().T
            entry = [b[2] for b in batch]
            same = torch.tensor([[x == y for y in entry] for x in entry])
            logits = logits.masked_fill(same & ~torch.eye(len(batch), dtype=torch.bool), -1e4)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
    return TorchEncoder(model, tokenizer, max_len)


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         epochs: float = 2.0, embedder=None, base_model: str | None = None,
         max_len: int = MAX_LEN, max_entries: int | None = None,
         out_dir: Path | None = None, limit: int | None = None) -> dict:
    import advisor.known_issues as ki
    from advisor import kb_store
    from advisor.category_head import head_input
    from advisor.config import Config
    from advisor.embedding import embedder_for
    from bench.kb_fit import labelled_questions
    from bench.kb_vote_cv import fold_of, part_columns

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    base = embedder or embedder_for(cfg)
    issues = ki.load_known_issues()
    questions = labelled_questions(Path(eval_dir))
    solved = kb_store.read_solved_posts(Path(eval_dir) / "train_posts.jsonl")
    # the packaged model's vectors of the entries, as the build stored them (kb_vote_cv too)
    cache = kb_store.load_vector_cache(Path(index_dir), base.model_id)
    if max_entries is not None:  # a quick look: the labelled entries and a few others
        named = {q["entry"] for q in questions} | {p.entry for p in solved}
        keep = {i.id for i in issues if i.id in named} | {i.id for i in issues[:max_entries]}
        issues = [i for i in issues if i.id in keep]
    by_id = {i.id: i for i in issues}
    questions = [q for q in questions if q["entry"] is None or q["entry"] in by_id][:limit]
    fold = np.array([fold_of(q["url"], folds) for q in questions])
    phrasings = [(p, i.match_text, i.id) for i in issues for p in i.phrasings]
    got: dict[tuple[str, float], dict[int, tuple]] = {}
    saved = ki.W_DENSE
    seconds = []
    try:
        for f in range(folds):
            kept = [p for p in solved if fold_of(p.url, folds) != f and p.entry in by_id]
            t0 = time.perf_counter()
            pairs = [(head_input(p.text)[:4000], by_id[p.entry].match_text, p.entry)
                     for p in kept] + phrasings
            tuned = fit_pair_encoder(pairs, base_model or cfg.embed_model, epochs, max_len)
            seconds.append(round(time.perf_counter() - t0, 1))
            mine = np.flatnonzero(fold == f)
            for name, emb in (("packaged", base), ("fine-tuned", tuned)):
                packaged = name == "packaged"  # its entry and post vectors carry over folds
                matcher = ki.KnownIssueMatcher(issues, emb, cache=cache if packaged else None,
                                               solved=kept)
                if packaged:
                    cache = matcher._cache
                texts = [questions[i]["text"][:4000] for i in mine]
                qv = np.asarray(emb.encode(texts), np.float32) if texts else None
                for share in DENSE_SHARES:
                    ki.W_DENSE = share
                    for n, i in enumerate(mine):
                        q, text = questions[i], texts[n]
                        ms = matcher.match(text, qv[n])
                        rank = 0
                        if q["entry"]:
                            s = matcher.semantic_scores(text, qv[n])
                            rank = int((s > s[matcher._pos[q["entry"]]]).sum())
                        got.setdefault((name, share), {})[int(i)] = (
                            rank, q["entry"] in [m.issue.id for m in ms],
                            any(not m.loose for m in ms), None)
    finally:
        ki.W_DENSE = saved
    table = [{"encoder": name, "dense share": share,
              **part_columns([d[i] for i in range(len(questions))], questions, key_points=False)}
             for (name, share), d in got.items()]
    result = {"folds": folds, "epochs": epochs, "questions": len(questions),
              "labelled": sum(bool(q["entry"]) for q in questions), "entries": len(issues),
              "fit_seconds": seconds, "table": table}
    result["path"] = str(write_result("kb_encoder_cv", result, out_dir))
    print(md_table(table))
    print(f"\n{len(questions)} questions ({result['labelled']} labelled with an entry), "
          f"{folds} folds by source URL; fine-tunes took {seconds} s")
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--limit", type=int, default=None,
                    help="match only the first N labelled questions (a quick look)")
    args = ap.parse_args()
    setup_logging()
    main(args.folds, args.index_dir, epochs=args.epochs, limit=args.limit)
