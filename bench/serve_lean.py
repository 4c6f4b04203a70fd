"""Serving footprint: import time, time to ready, RSS when ready, heavy modules loaded.

Runs a fresh interpreter per case (``--runs`` each) that imports the engine, loads
``--index-dir`` (``Advisor(cfg).parts``) and answers one question, then reports:
import seconds (``advisor.engine`` + ``advisor.embedding``), ready seconds (imports +
index + query encoder), RSS when ready (VmRSS) and peak (VmHWM), and whether torch /
transformers / sentence-transformers were imported. ``--code-dir`` points the child at
another checkout (e.g. ``git archive <base> | tar -x -C /tmp/before``) to compare
before/after on the same index. Prints a markdown table; writes
``bench/out/serve_lean.json``.

usage: python -m bench.serve_lean --index-dir /tmp/idx [--code-dir /tmp/before] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTION = "Which model should I use for sentiment analysis of German product reviews?"

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import advisor.embedding, advisor.engine
t_import = time.perf_counter() - t0
from advisor.config import Config
cfg = Config.from_env(index_dir=sys.argv[1])
adv = advisor.engine.Advisor(cfg)
adv.parts
t_ready = time.perf_counter() - t0
adv.advise(sys.argv[2])
t_first = time.perf_counter() - t0
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
print(json.dumps({
    "import_s": t_import, "ready_s": t_ready, "first_answer_s": t_first,
    "rss_ready_mb": status("VmRSS") / 2**20, "peak_rss_mb": status("VmHWM") / 2**20,
    "heavy": sorted(m for m in ("torch", "transformers", "sentence_transformers")
                    if m in sys.modules),
    "embedder": type(getattr(adv.parts.embedder, "inner", adv.parts.embedder)).__name__,
}))
"""


def run_once(code_dir: Path, index_dir: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ADVISOR_DISABLE_PROGRESS": "1",
           "PYTHONPATH": str(code_dir)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(index_dir), QUESTION],
                         capture_output=True, text=True, cwd=code_dir, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serve_lean", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-dir", type=Path, default=REPO / "index")
    p.add_argument("--code-dir", type=Path, action="append",
                   help="checkout(s) to compare (default: this one); repeatable")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    rows = []
    for code_dir in args.code_dir or [REPO]:
        runs = [run_once(code_dir.resolve(), args.index_dir.resolve()) for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("import_s", "ready_s", "first_answer_s", "rss_ready_mb", "peak_rss_mb")}
        rows.append({"code_dir": str(code_dir), **med, "heavy": runs[0]["heavy"],
                     "embedder": runs[0]["embedder"], "runs": runs})
    print("| code | import s | ready s | first answer s | RSS ready MB | peak MB | heavy modules | embedder |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['code_dir']} | {r['import_s']:.2f} | {r['ready_s']:.2f} | "
              f"{r['first_answer_s']:.2f} | {r['rss_ready_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{', '.join(r['heavy']) or 'none'} | {r['embedder']} |")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve_lean.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
