"""`python -m builder`: help text, a small build, info, and one-line typed errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import builder.embed
from builder import __main__ as cli
from tests.conftest import REPO, FakeEmbedder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "builder", *args], cwd=REPO, capture_output=True, text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--help"], ["build", "info", "examples:"]),
        (["build", "--help"], ["--corpus-dir", "--index-dir", "--source", "--limit",
                               "--hub-filter", "language:es", "--embed-model", "-v",
                               "python -m builder build --limit 300"]),
        (["info", "--help"], ["--index-dir", "--json"]),
    ],
)
def test_help_explains_each_option(args, expected):
    out = run_cli(*args)
    assert out.returncode == 0
    for text in expected:
        assert text in out.stdout


def test_build_then_info(corpus_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(builder.embed, "get_embedder", lambda *a, **k: FakeEmbedder())
    # (builds go through builder.embed.LazyEmbedder, which calls get_embedder on first use)
    index_dir = tmp_path / "idx"
    rc = cli.main(["build", "--corpus-dir", str(corpus_dir), "--index-dir", str(index_dir),
                   "--limit", "20", "--embed-model", "fake-hash-64"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert out.out.startswith("Embedded ") and str(index_dir) in out.out
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["embed_model"] == "fake-hash-64" and manifest["limit"] == 20

    assert cli.main(["info", "--index-dir", str(index_dir)]) == 0
    info = capsys.readouterr().out
    assert f"{manifest['counts']['chunks']:,}" in info and "cards2022" in info
    assert cli.main(["info", "--index-dir", str(index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == manifest


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "--index-dir", "{tmp}/none"], "No index at"),
        (["build", "--corpus-dir", "{tmp}/no-corpus", "--index-dir", "{tmp}/i"],
         "ADVISOR_CORPUS_DIR"),
        # the autouse fixture sets HF_HUB_OFFLINE=1: the live Hub path must say so
        (["build", "--source", "hub", "--hub-filter", "text-classification",
          "--limit", "3", "--index-dir", "{tmp}/i"], "HF_HUB_OFFLINE"),
    ],
)
def test_errors_are_one_stderr_line(tmp_path, args, message):
    out = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
