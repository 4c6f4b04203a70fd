"""Challenge categories on real questions: accuracy, calibration, a second human coder.

On one frozen split of ``eval/real_questions.jsonl`` (default ``test``) this reports
category top-1 / top-3 of the taxonomy classifier exactly as the app runs it (through
:meth:`advisor.engine.Advisor.advise`, so known-issue and explainer evidence count), a
reliability table (confidence bins vs accuracy), how often the answer is right when it
says it is sure (not "probably" or "not sure"), and the agreement of a second human coder who labelled 50 ``test``
questions blind (``bench/second_coder_labels.jsonl``: top-3 categories per question,
from the question text and the codebook only) with the first coder's labels.

Run: ``python -m bench.category_quality [--split test|tune]`` (needs ``index/``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "real_questions.jsonl"
SECOND_CODER = ROOT / "bench" / "second_coder_labels.jsonl"
BINS = (0.0, 0.3, 0.45, 0.6, 0.75, 1.01)


def reliability(conf: list[float], ok: list[bool]) -> list[dict]:
    rows = []
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        sel = [o for c, o in zip(conf, ok, strict=True) if lo <= c < hi]
        rows.append({"confidence": f"{lo:.2f}-{min(hi, 1.0):.2f}", "questions": len(sel),
                     "accuracy": round(sum(sel) / len(sel), 3) if sel else None})
    return rows


def second_coder(gold: dict[str, str]) -> dict:
    if not SECOND_CODER.exists():
        return {}
    rows = [json.loads(x) for x in SECOND_CODER.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r["id"] in gold]
    n = max(1, len(rows))
    return {"n": len(rows),
            "top1_agreement": round(sum(r["categories"][0] == gold[r["id"]] for r in rows) / n, 3),
            "top3_agreement": round(sum(gold[r["id"]] in r["categories"][:3] for r in rows) / n, 3)}


def main(split: str = "test", index_dir: Path = ROOT / "index", out_dir: Path | None = None) -> dict:
    from advisor.compose import SURE_CONFIDENCE
    from advisor.config import Config
    from advisor.engine import Advisor
    from advisor.eval import split_of

    rows = [json.loads(x) for x in QUESTIONS.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = [r for r in rows if split_of(r["source_url"]) == split]
    adv = Advisor(Config.from_env(index_dir=Path(index_dir), disable_progress=True))
    conf, ok, ok3, sure = [], [], [], []
    for r in rows:
        a = adv.advise(r["question"])
        cats = [c.category for c in a.categories]
        conf.append(a.confidence)
        ok.append(bool(cats) and cats[0] == r["category"])
        ok3.append(r["category"] in cats[:3])
        if not a.unsure and a.confidence >= SURE_CONFIDENCE:  # worded as sure in the answer
            sure.append(ok[-1])
    n = max(1, len(rows))
    result = {
        "split": split, "n": len(rows),
        "top1": round(sum(ok) / n, 3), "top3": round(sum(ok3) / n, 3),
        "said_sure": len(sure), "accuracy_when_sure": round(sum(sure) / len(sure), 3) if sure else None,
        "reliability": reliability(conf, ok),
        "second_coder": second_coder({r["id"]: r["category"] for r in rows}) if split == "test" else {},
    }
    result["path"] = str(write_result(f"category_quality_{split}", result, out_dir))
    print(f"{split}: n={len(rows)} top1 {result['top1']} top3 {result['top3']}; sure "
          f"{len(sure)} -> {result['accuracy_when_sure']}; second coder {result['second_coder']}")
    print(md_table(result["reliability"]))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("tune", "test"), default="test")
    ap.add_argument("--index-dir", type=Path, default=ROOT / "index")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(a.split, a.index_dir)
