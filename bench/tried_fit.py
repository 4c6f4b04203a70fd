"""Can the answer tell which fix steps the asker says they already took? (prototype, not
adopted: RESULTS, forty-fourth pass).

Reviewers mark an answer misleading when it repeats a step the question says was done
("I already upgraded pip", "I am a PRO user"). This prototype reads a question's
sentences that report something done (they match one of :data:`MARKERS`, quoted error
text removed) and scores each shown step against them: by meaning (the cosine of
all-MiniLM-L6-v2 vectors) and by the share of the step's distinctive tokens (identifiers,
flags, versions) a sentence holds. A step flagged as taken would be moved last, marked
"you said you already did this": so a flag must be right nearly always, or the answer
states something false about the asker.

Labels: helpers who did not see this code labelled the steps an answer showed for 240
training posts (``bench/tried_labels_s44.jsonl``: post id, entry, step index, ``done``
0/1, the span of the question that shows it). The posts were sampled from
``eval/train_posts.jsonl`` (170 whose question has a marker, 70 without, seed 44) before
any threshold was read; no evaluation question is among them.

Reported: for each pair of thresholds, the steps flagged, their precision and the recall
of the labelled ones, with the markers and with every sentence a candidate; and a
logistic regression over both scores and three more (5 folds by post), its ROC AUC and
precision / recall by probability.

Run: ``python -m bench.tried_fit`` (needs ``index/`` for the embedder; about a minute).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/tried_fit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, write_result

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "bench" / "tried_labels_s44.jsonl"
COSINES = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 9.0)  # 9: off
SHARES = (0.5, 0.6, 0.75, 1.0, 9.0)
PROBS = (0.2, 0.3, 0.4, 0.5, 0.6)
# how people report what they did or the state they are in (an attempt, a state)
MARKERS = re.compile(r"\b(?:" + "|".join([
    "already", "tried", "tries", "trying", "attempted",
    "(?:did not|didn't|does not|doesn't|do not|don't) (?:help|work|fix|change|solve)",
    "no luck", "(?:even|still) (?:after|with|when)", "same (?:error|result|problem|issue)",
    "(?:I|we) (?:have|'ve) (?:set|installed|upgraded|updated|reinstalled|downgraded|added"
    "|used|checked|cleared|restarted|enabled|disabled|logged)",
    "(?:I|we) (?:set|installed|upgraded|updated|reinstalled|downgraded|added|checked"
    "|cleared|restarted|enabled|disabled|logged in|passed|switched)",
    "(?:I am|I'm|we are|we're) (?:a |on (?:a |the )?)?(?:PRO|Pro|logged in|subscribed"
    "|on the latest|using the latest)"]) + r")\b", re.I)
# quoted text (an error message, a log line) reports what happened, not what was done
_QUOTED = re.compile(r'"[^"]{20,}"|`[^`]{40,}`|\b\w*(?:Error|Exception|Warning)\b:.*$')
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(r"[A-Za-z_][\w.\-]*[\w]|--?[a-z][\w-]+|\d+(?:\.\d+)+")
_COMMON = frozenset("""a an the and or to of in on for with your you it is are be this
that if use using set run from by as at not no can check make sure try then when model
models""".split())


def sentences(text: str) -> list[str]:
    """The question's sentences, quoted error text removed."""
    out = [_QUOTED.sub(" ", s).strip() for s in _SENTENCE.split(text) if s and s.strip()]
    return [s for s in out if s]


def distinctive_tokens(text: str) -> set[str]:
    toks = {t.lower().strip(".-") for t in _TOKEN.findall(text)}
    return {t for t in toks if len(t) > 2 and t not in _COMMON}


def token_share(step: str, sentence: str) -> float:
    """Share of the step's distinctive tokens the sentence holds (0 with fewer than 2)."""
    toks = distinctive_tokens(step)
    if len(toks) < 2:
        return 0.0
    return len(toks & distinctive_tokens(sentence)) / len(toks)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def features(labels: list[dict], posts: dict[str, str], issues: dict, emb) -> np.ndarray:
    """Per labelled step: best cosine and token share over marker sentences, the same
    over every sentence, the cosine to the whole question."""
    rows = []
    for r in labels:
        q, step = posts[r["id"]], issues[r["entry"]].fix[r["step"]]
        sents = sentences(q) or [q]
        marked = [i for i, s in enumerate(sents) if MARKERS.search(s)]
        vecs = emb.encode([step, q, *sents])  # (2 + sentences, dim)
        cos = vecs[2:] @ vecs[0]
        shares = np.array([token_share(step, s) for s in sents])
        rows.append([cos[marked].max() if marked else 0.0,
                     shares[marked].max() if marked else 0.0,
                     cos.max(), shares.max(), float(vecs[1] @ vecs[0])])
    return np.asarray(rows, dtype=float)


def threshold_table(done: np.ndarray, cos: np.ndarray, share: np.ndarray) -> list[dict]:
    rows = []
    for c in COSINES:
        for s in SHARES:
            flagged = (cos >= c) | (share >= s)
            rows.append({"min cosine": c if c < 9 else "off",
                         "min token share": s if s < 9 else "off",
                         "flagged": int(flagged.sum()),
                         "precision": round(float(done[flagged].mean()), 3)
                         if flagged.any() else None,
                         "recall": round(float(done[flagged].sum() / done.sum()), 3)})
    return rows


def logistic_cv(x: np.ndarray, done: np.ndarray, groups: list[str]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    prob = np.zeros(len(done))
    for tr, te in GroupKFold(5).split(x, done, groups):
        model = LogisticRegression(max_iter=1000).fit(x[tr], done[tr])
        prob[te] = model.predict_proba(x[te])[:, 1]
    rows = [{"min probability": t, "flagged": int((prob >= t).sum()),
             "precision": round(float(done[prob >= t].mean()), 3) if (prob >= t).any()
             else None, "recall": round(float(done[prob >= t].sum() / done.sum()), 3)}
            for t in PROBS]
    return {"auc": round(float(roc_auc_score(done, prob)), 3), "rows": rows}


def main(index_dir: Path = ROOT / "index", labels_path: Path = LABELS) -> dict:
    from advisor.config import Config
    from advisor.embedding import embedder_for
    from advisor.known_issues import load_known_issues

    labels = read_rows(labels_path)
    posts = {r["id"]: r["question"] for r in read_rows(ROOT / "eval" / "train_posts.jsonl")}
    issues = {k.id: k for k in load_known_issues()}
    x = features(labels, posts, issues, embedder_for(Config(index_dir=index_dir)))
    done = np.array([int(r["done"]) for r in labels])
    result = {"labels": len(labels), "done": int(done.sum())}
    for name, (ci, si) in (("marker sentences", (0, 1)), ("every sentence", (2, 3))):
        result[name] = threshold_table(done, x[:, ci], x[:, si])
        print(f"\n### {name} ({result['done']} of {len(labels)} steps labelled done)\n")
        print(md_table(result[name]))
    result["logistic"] = logistic_cv(x, done, [r["id"] for r in labels])
    print(f"\n### Logistic regression, 5 folds by post: ROC AUC {result['logistic']['auc']}\n")
    print(md_table(result["logistic"]["rows"]))
    write_result("tried_fit", result)
    return result


if __name__ == "__main__":
    main()
