"""Should the runner-up task's models join the list? Simulated on held-out task readings.

``python -m bench.task_cv`` reads every labelled request (training requests and the
``tune`` half; never ``test``) with a task model fitted without it and saves each reading
(task, confidence, runner-up) in ``bench/out/task_cv.json``. This script ranks models for
each reading with the recommender (the read task given as the filter, so the task model
that read it is the held-out one), and scores hit@5 / hit@1 / MRR of: the first task's
list alone, and lists whose last ``slots`` picks come from the runner-up task when its
probability is at least ``ratio`` times the first's (the rule of
:meth:`advisor.recommender.Recommender.runner_up`, merged by the product's own
:func:`advisor.modelfacts.fill_last`). Each request is ranked with its fold left out of
the solved-request store (:mod:`advisor.solved_requests`), so it cannot find its own
accepted models there.

Run: ``python -m bench.task_cv`` first, then ``python -m bench.runner_up [--ratios 0.3,0.6]
[--slots 1,2]`` (~2 minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python bench/runner_up.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
K = 5
FOLDS = 5  # folds of the solved-request store, by a hash of source_url (bench/rank_fit.py)


def main(readings: Path = ROOT / "bench" / "out" / "task_cv.json",
         index_dir: Path = ROOT / "index", ratios: tuple[float, ...] = (0.3, 0.6, 0.8),
         slots: tuple[int, ...] = (1, 2), out_dir: Path | None = None, embedder=None) -> dict:
    from advisor.config import Config
    from advisor.engine import Advisor
    from advisor.eval import hit_at, reciprocal_rank
    from advisor.modelfacts import fill_last
    from bench.rank_fit import labelled, without_own_fold

    got = json.loads(Path(readings).read_text(encoding="utf-8"))["held_out_readings"]
    rows = [r for r in labelled(ROOT / "eval") if r["id"] in got]
    adv = Advisor(Config.from_env(index_dir=Path(index_dir), disable_progress=True),
                  embedder=embedder)
    rec = adv.parts.recommender

    def ranked(text: str, task: str | None) -> list[str]:
        return [m.model_id for m in rec.recommend(text, {"task": task}, k=K)] if task else []

    cases = []
    for i, _ in without_own_fold(rec, rows, FOLDS):  # a request must not find itself there
        r, g = rows[i], got[rows[i]["id"]]
        alt, p2 = (g["alternatives"][0] if g["alternatives"] else (None, 0.0))
        cases.append((r["good"], ranked(r["question"], g["task"]),
                      ranked(r["question"], alt), float(p2) / (g["confidence"] or 1.0)))

    def score(name: str, ratio: float | None, n_slots: int) -> dict:
        h5 = h1 = mrr = 0.0
        hedged = 0
        for good, first, second, rel in cases:
            lst = first
            if ratio is not None and second and rel >= ratio:
                lst, hedged = fill_last(first, second, K, n_slots), hedged + 1
            h5 += hit_at(good, lst, K)
            h1 += hit_at(good, lst, 1)
            mrr += reciprocal_rank(good, lst, K)
        n = max(1, len(cases))
        return {"lists": name, "hedged": hedged, "hit@5": round(h5 / n, 3),
                "hit@1": round(h1 / n, 3), "mrr": round(mrr / n, 3)}

    table = [score("first task only", None, 0)]
    table += [score(f"runner-up in the last {s} when >= {r:.0%} of the first", r, s)
              for s in slots for r in ratios]
    result = {"requests": len(cases), "table": table}
    result["path"] = str(write_result("runner_up", result, out_dir))
    print(md_table(table))
    print(f"\n{len(cases)} labelled requests, each read by a task model fitted without it")
    return result


def numbers(text: str, kind: type) -> tuple:
    """``"0.3,0.6"`` -> ``(0.3, 0.6)``; an argparse error that names the bad value."""
    try:
        return tuple(kind(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated {kind.__name__} values such as "
            f"{'0.3,0.6' if kind is float else '1,2'}, got {text!r}") from None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readings", type=Path, default=ROOT / "bench" / "out" / "task_cv.json")
    ap.add_argument("--index-dir", type=Path, default=ROOT / "index")
    ap.add_argument("--ratios", type=lambda v: numbers(v, float), default=(0.3, 0.6, 0.8),
                    help="comma-separated ratios to compare, e.g. 0.3,0.6")
    ap.add_argument("--slots", type=lambda v: numbers(v, int), default=(1, 2),
                    help="comma-separated numbers of runner-up slots, e.g. 1,2")
    args = ap.parse_args()
    setup_logging()
    main(args.readings, args.index_dir, ratios=args.ratios, slots=args.slots)
