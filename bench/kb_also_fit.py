"""How many known-issue entries the answer lists after its fixes ("If that is not it,
also check"), from what confidence, and how many with their first step, cross-validated.

:meth:`advisor.known_issues.KnownIssueMatcher.match_with_alternatives` returns the
entries the answer leads with and up to ``also`` more, next in the learned order
(:mod:`advisor.kb_rank`); the composer lists each in one line, its title, and for the
first :data:`advisor.fix_sections.ALSO_STEPS` also its first step. This script reads every
non-``test`` question labelled with its entry or with none (the questions and folds of
:mod:`bench.kb_vote_cv`), each with a matcher whose solved posts and learned-order weights
come from the other folds (the weights refitted as :mod:`bench.kb_rank_fit` does; the
confidence is the shipped one, fitted on every fold, so its floors read slightly better
here than on new questions).

Reported per setting (``also`` entries, a confidence floor they must reach, how many
carry their step), for the training posts and
``tune`` apart: the labelled entry led with, the labelled entry shown anywhere (led with
or listed), questions whose fix is no entry that were listed one, the mean number
listed, and the key points the shown text holds (entries led with in full, listed ones as
their title, with their first step where the setting shows it). ``test`` is never read.

Run: ``python -m bench.kb_also_fit`` (needs ``index/``; about 6 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/kb_also_fit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, run_cv, write_result
from bench.kb_rank_fit import fit_weights, fold_readings
from bench.kb_vote_cv import shown_text

ROOT = Path(__file__).resolve().parents[1]
COUNTS = (0, 1, 2, 3, 4)  # settings of advisor.known_issues.ALSO_CHECK tried
FLOORS = (0.0, 0.05, 0.1, 0.2)  # confidence floors a listed entry must reach, tried
STEPPED = (None, 1)  # settings of advisor.fix_sections.ALSO_STEPS tried (None: every one)


def listed_text(match, with_step: bool = True) -> str:
    """What the answer shows of a listed entry: its title, and its first step when
    ``with_step``."""
    k = match.issue
    return " ".join([k.title, *(k.fix[:1] if with_step else [])])


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         out_dir: Path | None = None, embedder=None, limit: int | None = None) -> dict:
    from advisor.eval import key_point_coverage

    (_, _, _, questions, _, qvecs, fold), matchers, feats = fold_readings(
        folds, index_dir, eval_dir, embedder, limit)
    for f in range(folds):
        keep = np.flatnonzero(fold != f)
        matchers[f].rank_weights = fit_weights(np.vstack([feats[i][1] for i in keep]),
                                               np.concatenate([feats[i][2] for i in keep]))
    most = max(COUNTS)
    read = []  # per question: (entries led with, listed candidates with their confidence)
    for i, q in enumerate(questions):
        led, listed = matchers[int(fold[i])].match_with_alternatives(
            q["text"][:4000], qvecs[i], also=most)
        read.append((led, listed))
    table = []
    settings = [(count, floor, stepped) for count in COUNTS
                for floor in (FLOORS if count else (0.0,))
                for stepped in (STEPPED if count > 1 and not floor else (None,))]
    for count, floor, stepped in settings:
        row: dict = {"also": count, "floor": floor,
                     "with a step": "all" if stepped is None else stepped}
        for part in ("train", "tune"):
            lab, none, n_listed, kps = [], [], [], []
            for q, (led, listed) in zip(questions, read, strict=True):
                if q["source"] != part:
                    continue
                shown = [x for x in listed if (x.confidence or 0.0) >= floor][:count]
                n_listed.append(len(shown))
                ids = [x.issue.id for x in led]
                if q["entry"]:
                    lab.append((q["entry"] in ids,
                                q["entry"] in ids + [x.issue.id for x in shown]))
                elif led:
                    none.append(bool(shown))
                if q["key_points"]:
                    text = " ".join([*(shown_text(x) for x in led),
                                     *(listed_text(x, stepped is None or j < stepped)
                                       for j, x in enumerate(shown))])
                    kps.append(key_point_coverage(q["key_points"], text))
            if not lab:
                continue
            row[f"{part} led with"] = round(float(np.mean([a for a, _ in lab])), 3)
            row[f"{part} shown"] = round(float(np.mean([b for _, b in lab])), 3)
            row[f"{part} no-entry listed one"] = (round(float(np.mean(none)), 3)
                                                  if none else None)
            row[f"{part} listed"] = round(float(np.mean(n_listed)), 2)
            row[f"{part} key points held"] = round(float(np.mean(kps)), 3) if kps else None
        table.append(row)
    result = {"questions": len(questions),
              "labelled": sum(bool(q["entry"]) for q in questions),
              "tune": sum(q["source"] == "tune" for q in questions), "folds": folds,
              "table": table}
    result["path"] = str(write_result("kb_also_fit", result, out_dir))
    print(md_table(table))
    return result


if __name__ == "__main__":
    run_cv(__doc__, main, ROOT / "index")
