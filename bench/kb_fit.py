"""A verifier for known-issue matches, fitted and judged on held-out folds (issue 10).

:class:`advisor.known_issues.KnownIssueMatcher` proposes up to two entries per question;
on real questions many of its weak matches are not the entry holding the accepted fix.
This script asks whether a logistic model over each match's readings (:func:`features`:
signature, meaning score and lead over the next entry, second match, the challenge
classifier's probability for the entry's category, the premise check, libraries the
question names, a pasted error the entry's signatures did not recognise, code-like
names shared with the entry) can drop the wrong ones without losing the right ones.

The data: every real question labelled with its knowledge-base entry that is not
``test``: the ``tune`` half of ``eval/real_questions.jsonl`` and the rows of
``eval/train_posts.jsonl`` that carry a ``known_issue`` key (``null`` = no entry holds
the accepted fix). For each question the matcher proposes its matches (as the product
does) and the challenge classifier, refitted without the question's fold, gives its
categories; each match becomes one example, right when it is the labelled entry
(``--label entry``) or, with ``--label useful``, also when its text holds half the
question's key points.

Reported, for the weights fitted on the other folds (logistic, L2, per ``C``) and each
threshold: matches kept right / wrong, questions whose labelled entry is still shown
("hit"), questions with no entry that are still shown one ("false shown"), and
questions whose first shown match is right among those shown any ("lead right"). A
threshold is chosen by a rule fixed in advance (:data:`MAX_HIT_LOSS`): the fewest wrong
matches kept while the held-out hit stays within one point of no verifier. The product
does not use a verifier: at that point the answers on ``tune`` lost key points (the
dropped "wrong" matches often held part of the accepted answer; bench/RESULTS.md,
thirteenth pass). ``test`` is never read. Run: ``python -m bench.kb_fit [--label
useful]`` (needs ``index/``; ~5 minutes on 2 cores).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # `python bench/kb_fit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.known_issues import named_libraries
from bench._common import cv_parser, print_tables, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]

FEATURES = ("signature", "semantic", "margin", "second", "category_p", "category_top",
            "premise_doubt", "library_named", "library_other", "pasted_error",
            "identifiers_shared", "identifiers_missing")


# code-like names: dotted or snake_case paths, CamelCase classes, call sites
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+|[a-z]+[A-Z][A-Za-z0-9]*"
                         r"|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Za-z_][A-Za-z0-9_]*(?=\()")
_ERROR_LINE = re.compile(r"Traceback \(most recent|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|"
                         r"\berror:|\bfailed with\b", re.I)


def identifiers(text: str) -> set[str]:
    """The code-like names in ``text`` (``from_pretrained``, ``torch.float16``,
    ``AutoTokenizer``), lower-cased; library names and plain words are not among them."""
    out = set()
    for m in _IDENTIFIER.finditer(text or ""):
        name = m.group(0).strip("._")
        parts = name.split(".")
        # a dotted path counts whole and by its code-like parts (``from_pretrained``)
        for part in [name] + (parts if len(parts) > 1 else []):
            if len(part) > 3 and (part is name or "_" in part or _IDENTIFIER.fullmatch(part)
                                  or any(c.isdigit() for c in part)):
                out.add(part.lower())
    return out


@lru_cache(maxsize=4096)
def _entry_identifiers(issue: Any) -> frozenset[str]:
    parts = [issue.title, issue.description, issue.cause, *issue.fix, issue.snippet,
             issue.applies_when, *issue.phrasings]
    return frozenset(identifiers(" ".join(parts)))


def features(match: Any, rank: int, categories: Sequence[Any], named: set[str],
             text: str = "", names: set[str] | None = None) -> dict[str, float]:
    """The readings of one match (``rank`` 0 = first) given the classifier's categories
    (:class:`advisor.types.CategoryScore`, best first), the libraries the question
    names, the question's text and its code-like names (:func:`identifiers`)."""
    issue = match.issue
    probs = {c.category: float(c.score) for c in categories}
    own = set(issue.libraries)
    names = identifiers(text) if names is None else names
    shared = len(names & _entry_identifiers(issue))
    return {
        "signature": float(match.how == "signature"),
        "semantic": float(match.semantic),
        "margin": float(match.margin),
        "second": float(rank > 0),
        "category_p": probs.get(issue.category, 0.0),
        "category_top": float(bool(categories) and categories[0].category == issue.category),
        "premise_doubt": float(match.premise_doubt),
        "library_named": float(bool(own & named)),
        "library_other": float(bool(named - own) and not own & named),
        # an error pasted but this entry matched by meaning only: its lines are not ours
        "pasted_error": float(match.how != "signature" and bool(_ERROR_LINE.search(text))),
        "identifiers_shared": math.log1p(shared),
        "identifiers_missing": math.log1p(len(names) - shared),
    }


def probability(feats: dict[str, float], weights: dict[str, float], bias: float) -> float:
    """P(the match is right) under the given logistic weights."""
    z = bias + sum(weights[k] * feats[k] for k in FEATURES)
    return 1.0 / (1.0 + math.exp(-z))


THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
CS = (0.1, 1.0, 10.0)
MAX_HIT_LOSS = 0.01  # the held-out share of labelled entries the verifier may cost


def labelled_questions(eval_dir: Path) -> list[dict]:
    """``{"text", "category", "entry", "url", "source"}`` for every non-``test`` question
    with a known-issue label; ``source`` is ``"tune"`` (``real_questions.jsonl``) or
    ``"train"`` (``train_posts.jsonl``)."""
    from advisor.eval import split_of

    out = []
    for name, only_tune in (("real_questions.jsonl", True), ("train_posts.jsonl", False)):
        path = Path(eval_dir) / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            url = d.get("source_url") or ""
            if "known_issue" not in d or (only_tune and split_of(url) != "tune"):
                continue
            out.append({"text": d["question"], "category": d["category"],
                        "key_points": list(d.get("key_points") or []),
                        "subcategory": d.get("subcategory") or "",
                        "entry": d.get("known_issue") or None, "url": url,
                        "source": "tune" if only_tune else "train"})
    return out


def collect(questions: list[dict], folds: int, index_dir: Path, eval_dir: Path,
            embedder=None, kind: str = "entry") -> list[dict]:
    """Per question: its matches' feature dicts and labels, with held-out categories."""
    from advisor.classifier import TaxonomyClassifier
    from advisor.config import Config
    from advisor.embedding import embedder_for
    from advisor.engine import _load_known_issues
    from advisor.guidance import load_guidance
    from advisor.index import AdvisorIndex
    from advisor.known_issues import load_known_issues
    from advisor.labelled import LabelledText, known_issue_texts, labelled_posts, training_texts
    from advisor.memo import MemoEmbedder

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    emb = MemoEmbedder(embedder or embedder_for(cfg), size=1_000_000, max_batch=1_000_000)
    index = AdvisorIndex.load(cfg, embedder=emb)
    matcher = _load_known_issues(index, emb)
    held_urls = {q["url"] for q in questions}
    # the classifier's own training posts, less the questions held out here
    posts = [p for p in labelled_posts(Path(eval_dir)) if p.url not in held_urls]
    pool = [LabelledText(q["text"], q["category"], q["subcategory"], "real_post", q["url"])
            for q in questions]
    base = training_texts(index.taxonomy, list(index.threads.values()), load_guidance(), [])
    extra = known_issue_texts(load_known_issues())
    fold_of = np.random.default_rng(0).permutation(len(questions)) % folds
    out: list[dict] = [{} for _ in questions]
    for f in range(folds):
        kept = [p for p, k in zip(pool, fold_of, strict=True) if k != f]
        clf = TaxonomyClassifier().fit_texts(base + posts + kept + extra, emb)
        held = [i for i, k in enumerate(fold_of) if k == f]
        preds = clf.predict_many([questions[i]["text"] for i in held])
        for i, cats in zip(held, preds, strict=True):
            q = questions[i]
            named = named_libraries(q["text"], matcher.libraries)
            ms = matcher.match(q["text"])
            out[i] = {"fold": f, "entry": q["entry"],
                      "x": [features(m, r, cats, named, q["text"]) for r, m in enumerate(ms)],
                      "y": [label(m.issue, q, kind) for m in ms]}
    return out


def label(issue, q: dict, kind: str = "entry") -> bool:
    """Right = the labelled entry; with ``kind="useful"`` also an entry whose text holds
    half the question's key points."""
    from advisor.eval import key_point_coverage

    if issue.id == q["entry"]:
        return True
    if kind != "useful" or not q["key_points"]:
        return False
    text = " ".join([issue.title, issue.description, issue.cause, *issue.fix, issue.snippet])
    return key_point_coverage(q["key_points"], text) >= 0.5


def fit(rows: list[dict], c: float) -> tuple[dict, float]:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[f[k] for k in FEATURES] for r in rows for f in r["x"]])
    y = np.array([v for r in rows for v in r["y"]], dtype=int)
    if len(set(y)) < 2:
        return {k: 0.0 for k in FEATURES}, 0.0
    m = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    return ({k: round(float(v), 3) for k, v in zip(FEATURES, m.coef_[0], strict=True)},
            round(float(m.intercept_[0]), 3))


def judge(rows: list[dict], probs: list[list[float]], th: float) -> dict:
    kept_right = kept_wrong = hit = with_entry = false_shown = without = lead = shown = 0
    for r, ps in zip(rows, probs, strict=True):
        kept = [y for y, p in zip(r["y"], ps, strict=True) if p >= th]
        kept_right += sum(kept)
        kept_wrong += len(kept) - sum(kept)
        if r["entry"]:
            with_entry += 1
            hit += any(kept)
        else:
            without += 1
            false_shown += bool(kept)
        if kept:
            shown += 1
            lead += kept[0]
    return {"threshold": th, "kept right": kept_right, "kept wrong": kept_wrong,
            "hit": round(hit / max(1, with_entry), 3),
            "false shown": round(false_shown / max(1, without), 3),
            "lead right": round(lead / max(1, shown), 3)}


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         out_dir: Path | None = None, embedder=None, kind: str = "entry") -> dict:
    questions = labelled_questions(eval_dir)
    rows = collect(questions, folds, index_dir, eval_dir, embedder, kind)
    tables = []
    summary = {"questions": len(rows), "with entry": sum(bool(r["entry"]) for r in rows),
               "matches": sum(len(r["y"]) for r in rows),
               "right matches": sum(sum(r["y"]) for r in rows)}
    for c in CS:
        probs: list[list[float]] = [[] for _ in rows]
        for f in range(folds):
            w, b = fit([r for r in rows if r["fold"] != f], c)
            for i, r in enumerate(rows):
                if r["fold"] == f:
                    probs[i] = [probability(x, w, b) for x in r["x"]]
        tables.append([{"C": c, **judge(rows, probs, th)} for th in THRESHOLDS])
    # the rule, fixed before reading the tables: of the (C, threshold) pairs whose held-out
    # hit stays within MAX_HIT_LOSS of no verifier, the one keeping the fewest wrong matches
    base_hit = tables[0][0]["hit"]
    chosen = min((row for t in tables for row in t if row["hit"] >= base_hit - MAX_HIT_LOSS),
                 key=lambda row: (row["kept wrong"], -row["threshold"]))
    w, b = fit(rows, chosen["C"])
    result = {"folds": folds, "split": "tune + labelled training posts", "label": kind, **summary,
              "held out": tables, "chosen": chosen,
              "weights (all)": {**w, "bias": b, "C": chosen["C"],
                                "threshold": chosen["threshold"]}}
    result["path"] = str(write_result(f"kb_fit_{kind}", result, out_dir))
    print_tables([summary], *tables, [chosen], [result["weights (all)"]])
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--label", choices=("entry", "useful"), default="entry")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(a.folds, a.index_dir, kind=a.label)
