"""Build or inspect the Reuse Advisor index.

examples:
  python -m builder build                          # full snapshot build into index/
  python -m builder build --limit 300              # quick build: 300 cards per model source
  python -m builder build --index-dir /tmp/idx --embed-model sentence-transformers/all-MiniLM-L6-v2
  python -m builder build --source hub --hub-filter text-classification --hub-filter language:es --limit 100
  python -m builder build --fetch-threads          # + real titles/first posts of the coded forum threads
  python -m builder info --index-dir index/        # what an index holds
  HF_TOKEN=hf_... python -m builder push --repo-id me/advisor-index   # ship it as a Hub dataset
  python -m builder push --repo-id me/advisor-index --revision v2 --private

A rebuild re-embeds only chunks whose text changed; unchanged ones reuse their vectors.
The new index is written beside the old one and swapped in at the end, so an
interrupted build leaves the old index usable. `push` uploads a built index (manifest
and file hashes included) to a Hub dataset repo; a Space with ADVISOR_INDEX_REPO set
downloads it on start instead of building. Settings default to the ADVISOR_*
environment variables (see advisor/config.py), then to the built-in defaults.
Errors print one line on stderr and exit with status 1.

--fetch-threads asks the forum's public JSON API ($ADVISOR_DISCOURSE_URL, default
https://discuss.huggingface.co) for each coded thread's title and first post, at most
$ADVISOR_DISCOURSE_RATE requests/s (default 2), caching each topic under
$ADVISOR_CACHE_DIR/discourse/ so a rebuild asks only for what it lacks. Without network it
warns once and builds offline: threads are then cited by their codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from advisor.config import DEFAULT_CORPUS_DIR, DEFAULT_EMBED_MODEL, DEFAULT_INDEX_DIR, Config
from advisor.errors import AdvisorError

log = logging.getLogger("builder")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m builder",
        description="Build or inspect the Reuse Advisor index (FAISS + BM25 + SQLite).",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{build,info,push}")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--index-dir", metavar="DIR",
            help=f"where the index lives (default: $ADVISOR_INDEX_DIR or {DEFAULT_INDEX_DIR}/), "
            "e.g. --index-dir /tmp/idx",
        )
        sp.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v: info, -vv: debug)")

    b = sub.add_parser(
        "build", help="build or incrementally rebuild the index",
        description="Read the sources, label threads, chunk, embed and write the index.",
        epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument(
        "--corpus-dir", metavar="DIR",
        help=f"corpus snapshot (default: $ADVISOR_CORPUS_DIR or {DEFAULT_CORPUS_DIR}), "
        "e.g. --corpus-dir ../shared/corpus",
    )
    common(b)
    b.add_argument(
        "--source", choices=("snapshot", "hub"), default="snapshot",
        help="snapshot: the corpus files (default); hub: models from the live Hub "
        "(needs network), e.g. --source hub",
    )
    b.add_argument("--limit", type=int, metavar="N",
                   help="cap model cards per model source for a quick build, e.g. --limit 300")
    b.add_argument(
        "--hub-filter", action="append", default=[], metavar="FILTER",
        help="with --source hub: a list_models filter, repeatable, "
        "e.g. --hub-filter text-classification --hub-filter language:es",
    )
    b.add_argument(
        "--fetch-threads", action="store_true", default=None,
        help="fetch each coded thread's title and first post from the forum "
        "(needs network; cached, rate-limited; default: $ADVISOR_FETCH_THREADS or off)",
    )
    b.add_argument(
        "--embed-model", metavar="MODEL",
        help=f"embedding model (default: $ADVISOR_EMBED_MODEL or {DEFAULT_EMBED_MODEL}), "
        "e.g. --embed-model sentence-transformers/all-MiniLM-L6-v2",
    )
    i = sub.add_parser("info", help="print an index's manifest summary",
                       description="Print what an index holds and how it was built.")
    common(i)
    i.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    u = sub.add_parser(
        "push", help="upload a built index to a Hub dataset repo",
        description="Check the index's files against its manifest, create the dataset repo "
        "if needed and upload the index in one commit. The token comes from HF_TOKEN.",
        epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(u)
    u.add_argument("--repo-id", required=True, metavar="OWNER/NAME",
                   help="dataset repo to upload to, e.g. --repo-id me/advisor-index")
    u.add_argument("--revision", metavar="BRANCH",
                   help="branch to commit to (created if missing; default: main), e.g. --revision v2")
    u.add_argument("--private", action="store_true",
                   help="create the repo as private (an existing repo keeps its visibility)")
    return p


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _info(cfg: Config, as_json: bool) -> str:
    from advisor.index import read_manifest

    m = read_manifest(cfg.index_dir)
    if as_json:
        return json.dumps(m, indent=2, sort_keys=True)
    c = m.get("counts", {})
    lines = [
        f"index:      {cfg.index_dir} (format {m.get('format_version')}, built {m.get('built_at')})",
        f"embedding:  {m.get('embed_model')} dim {m.get('dim')} metric {m.get('metric')}",
        f"chunks:     {c.get('chunks', 0):,} from {c.get('documents', 0):,} documents "
        f"{c.get('chunks_by_kind', {})}",
        f"records:    {c.get('models', 0):,} models, {c.get('threads', 0):,} threads, "
        f"{c.get('taxonomy', 0):,} taxonomy entries",
        f"build:      {m.get('build_seconds', 0):.1f}s (embedding {m.get('embed_seconds', 0):.1f}s, "
        f"{m.get('embedded_new', 0):,} new, {m.get('reused_vectors', 0):,} reused)",
    ]
    for name, s in (m.get("sources") or {}).items():
        lines.append(
            f"source:     {name}: read {s.get('read', 0):,}, kept {s.get('kept', 0):,}, "
            f"skipped {s.get('skipped', 0):,} {s.get('reasons') or ''}".rstrip()
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        corpus_dir = getattr(args, "corpus_dir", None)
        cfg = Config.from_env(
            corpus_dir=Path(corpus_dir) if corpus_dir else None,
            index_dir=Path(args.index_dir) if args.index_dir else None,
            embed_model=getattr(args, "embed_model", None),
            fetch_threads=getattr(args, "fetch_threads", None),
        )
        if args.command == "info":
            print(_info(cfg, args.json))
            return 0
        if args.command == "push":
            from builder.push import push_index

            print(push_index(cfg, args.repo_id, args.revision, args.private).summary())
            return 0
        from builder.pipeline import build

        result = build(cfg, source=args.source, limit=args.limit, hub_filters=args.hub_filter)
        print(result.summary())
        return 0
    except AdvisorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the previous index (if any) is unchanged", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
