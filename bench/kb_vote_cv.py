"""The solved posts' vote in known-issue matching (issue 10), cross-validated.

:class:`advisor.known_issues.KnownIssueMatcher` lifts an entry when the question reads
like a real post that entry solved (``eval/train_posts.jsonl`` rows labelled with a
``known_issue``): by :data:`~advisor.known_issues.SOLVED_WEIGHT` times how far the
nearest such post's cosine passes :data:`~advisor.known_issues.SOLVED_MIN`. This script
chose the two numbers: every non-``test`` question labelled with its entry (or ``null``:
the training posts that carry the key and the ``tune`` half of
``eval/real_questions.jsonl``) is matched by a matcher whose solved posts exclude the
question's fold (folds by a hash of ``source_url``), for each weight and floor.

Reported per setting, for the training posts and for ``tune`` apart: how often the
labelled entry ranks first by meaning, is in the top 3, is shown (among the matches the
answer leads with), how often a question with no entry is shown one anyway (a clean,
non-loose match), and the share of the accepted answer's key points that the shown
entries' text holds (their cause, steps and snippet, as the answer renders them; every
question with key points, labelled or not: a label-free reading of what the matches are
worth, which also counts a different entry that holds the same fix). ``test`` is never read. Run: ``python -m bench.kb_vote_cv``
(needs ``index/``; ~3 minutes on 2 cores).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

if __package__ in (None, ""):  # `python bench/kb_vote_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, run_cv, write_result
from bench.kb_fit import labelled_questions

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = (0.0, 0.3, 0.5, 1.0)  # 0: no vote (the matcher before the twenty-first pass)
FLOORS = (0.5, 0.6, 0.7)


def fold_of(url: str, folds: int) -> int:
    return int(hashlib.sha1(url.encode("utf-8")).hexdigest(), 16) % folds


def shown_text(match) -> str:
    """What the answer shows of a matched entry: its cause, steps and (first match only,
    but counted for every one here) snippet."""
    k = match.issue
    return " ".join([k.title, k.cause, *k.fix, k.snippet or ""])


def part_columns(rows: Sequence[tuple], questions: Sequence[dict],
                 key_points: bool = True) -> dict:
    """Table columns for the training posts and ``tune`` apart, from one reading per
    question ``(rank of the labelled entry, shown it, shown any clean match, key points
    held or None)``: labelled entry first / top 3 / shown, questions with no entry shown
    one, and (``key_points``) the mean key points held."""
    row: dict = {}
    for part in ("train", "tune"):
        mine = [(r, q) for r, q in zip(rows, questions, strict=True) if q["source"] == part]
        lab = [r for r, q in mine if q["entry"]]
        none = [r for r, q in mine if not q["entry"]]
        if not lab:
            continue
        row[f"{part} first"] = round(np.mean([r[0] == 0 for r in lab]), 3)
        row[f"{part} top-3"] = round(np.mean([r[0] < 3 for r in lab]), 3)
        row[f"{part} shown"] = round(np.mean([r[1] for r in lab]), 3)
        row[f"{part} no-entry shown one"] = round(np.mean([r[2] for r in none]), 3) if none else None
        if key_points:
            held = [r[3] for r, q in mine if r[3] is not None]
            row[f"{part} key points held"] = round(float(np.mean(held)), 3) if held else None
    return row


class Labelled(NamedTuple):
    """What every known-issue CV script reads first (:func:`labelled_setup`)."""

    embedder: object
    issues: list  # the entries (advisor.known_issues.KnownIssue)
    cache: dict  # the build's vectors of the entries' texts, by text key
    questions: list[dict]  # bench.kb_fit.labelled_questions of a known entry or none
    solved: list  # the solved training posts (advisor.kb_store.SolvedPost)
    qvecs: np.ndarray  # (len(questions), dim) vectors of the questions' first 4,000 chars
    fold: np.ndarray  # each question's fold, by a hash of its source URL


def labelled_setup(folds: int, index_dir: Path, eval_dir: Path, embedder=None,
                   limit: int | None = None) -> Labelled:
    """The entries, the build's entry vectors, the labelled non-``test`` questions whose
    entry exists (the first ``limit``), the solved posts, the questions' vectors and folds."""
    import advisor.known_issues as ki
    from advisor import kb_store
    from advisor.config import Config
    from advisor.embedding import embedder_for

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    emb = embedder or embedder_for(cfg)
    issues = ki.load_known_issues()
    known = {i.id for i in issues}
    questions = [q for q in labelled_questions(Path(eval_dir))
                 if q["entry"] is None or q["entry"] in known][:limit]
    return Labelled(emb, issues, kb_store.load_vector_cache(Path(index_dir), emb.model_id),
                    questions, kb_store.read_solved_posts(Path(eval_dir) / "train_posts.jsonl"),
                    np.asarray(emb.encode([q["text"][:4000] for q in questions]), np.float32),
                    np.array([fold_of(q["url"], folds) for q in questions], dtype=np.int64))


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         weights: Sequence[float] = WEIGHTS, floors: Sequence[float] = FLOORS,
         out_dir: Path | None = None, embedder=None) -> dict:
    import advisor.known_issues as ki
    from advisor.eval import key_point_coverage

    emb, issues, cache, questions, solved, qvecs, fold = labelled_setup(
        folds, index_dir, eval_dir, embedder)
    # per question and setting: (rank of the labelled entry, shown it, shown any clean
    # match, key points held by the shown entries or None without key points)
    got: dict[tuple[float, float], list[tuple[int, bool, bool, float | None]]] = {
        (w, t): [(0, False, False, None)] * len(questions) for w in weights for t in floors}
    saved = ki.SOLVED_WEIGHT, ki.SOLVED_MIN
    try:
        for f in range(folds):
            kept = [p for p in solved if fold_of(p.url, folds) != f]
            matcher = ki.KnownIssueMatcher(issues, emb, cache=cache, solved=kept)
            cache = matcher._cache  # texts embedded once
            mine = [i for i, k in enumerate(fold) if k == f]
            for w in weights:
                for t in floors:
                    ki.SOLVED_WEIGHT, ki.SOLVED_MIN = w, t
                    for i in mine:
                        q = questions[i]
                        text, v = q["text"][:4000], qvecs[i]
                        ms = matcher.match(text, v)
                        ids = [m.issue.id for m in ms]
                        clean = any(not m.loose for m in ms)
                        rank = 0
                        if q["entry"]:
                            s = matcher.semantic_scores(text, v)
                            rank = int((s > s[matcher._pos[q["entry"]]]).sum())
                        held = (key_point_coverage(q["key_points"], " ".join(
                            shown_text(m) for m in ms)) if q["key_points"] else None)
                        got[(w, t)][i] = (rank, q["entry"] in ids, clean, held)
    finally:
        ki.SOLVED_WEIGHT, ki.SOLVED_MIN = saved
    table = []
    for (w, t), rows in got.items():
        if w == 0 and t != floors[0]:
            continue  # no vote: the floor does not matter
        table.append({"weight": w, "floor": t if w else "-", **part_columns(rows, questions)})
    n_tune = sum(q["source"] == "tune" for q in questions)
    result = {"questions": len(questions), "tune": n_tune, "solved_posts": len(solved),
              "labelled": sum(bool(q["entry"]) for q in questions), "folds": folds,
              "table": table}
    result["path"] = str(write_result("kb_vote_cv", result, out_dir))
    print(md_table(table))
    print(f"\n{len(questions)} questions ({n_tune} tune), {len(solved)} solved posts, "
          f"{folds} folds by source URL")
    return result


if __name__ == "__main__":
    run_cv(__doc__, main, ROOT / "index")
