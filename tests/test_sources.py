"""Source readers: real corpus slices (read at test time) and invented broken files."""

from __future__ import annotations

import csv
import gzip
import json
import logging

import pytest

from advisor.taxonomy import CHALLENGE_CATEGORIES
from builder.report import SourceReport, iter_csv_rows, iter_jsonl_gz
from builder.sources.cards2022 import CARDS_FILE, read_cards
from builder.sources.hub2026 import HUB2026_FILE, read_hub2026
from builder.sources.metadata import base_model_from
from builder.sources.taxonomy import CHALLENGES_CSV, example_topic, read_taxonomy
from builder.sources.threads import CODED_TOPICS_CSV, ROOT_CAUSES_CSV, normalise_tags, read_threads


def _write_gz(path, lines: list[bytes]):
    with gzip.open(path, "wb") as f:
        for line in lines:
            f.write(line + b"\n")
    return path


# --- report / JSONL -----------------------------------------------------------------
def test_skip_counts_and_warns_with_line(caplog):
    r = SourceReport("demo")
    r.line = 7
    with caplog.at_level(logging.WARNING):
        r.skip("broken_json", "xyz")
    assert (r.skipped, r.reasons["broken_json"]) == (1, 1)
    assert "line 7" in caplog.text and "broken_json" in caplog.text


def test_jsonl_bad_lines_are_counted_not_fatal(tmp_path):
    path = _write_gz(tmp_path / "x.jsonl.gz", [
        b'{"id": "a/b"}', b"{broken", b'{"id": "c\xff\xfe"}', b"[1, 2]", b"", b'{"id": "d/e"}',
    ])
    r = SourceReport("x")
    rows = list(iter_jsonl_gz(path, r))
    assert [row["id"] for row in rows] == ["a/b", "d/e"]
    assert r.read == 5 and r.skipped == 3
    assert r.reasons == {"broken_json": 1, "invalid_utf8": 1, "not_an_object": 1}
    assert len(r.sha256) == 64


def test_truncated_gzip_is_a_counted_skip(tmp_path):
    good = _write_gz(tmp_path / "g.jsonl.gz", [json.dumps({"id": f"m/{i}", "pad": "x" * 200}).encode()
                                               for i in range(200)])
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    r = SourceReport("cut")
    rows = list(iter_jsonl_gz(cut, r))
    assert 0 < len(rows) < 200
    assert r.reasons["truncated_file"] == 1


# --- taxonomy -----------------------------------------------------------------------
def test_csv_rows_named_columns_blank_and_short_rows(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("\ufeffTopic#,Tag,Code,\n1,beginners,a code,\n\n,,,\n2,short\n", "utf-8")
    r = SourceReport("demo")
    rows = list(iter_csv_rows(path, r, ("Code", "Topic#"), "a coded topics file"))
    assert rows == [["a code", "1"], ["", "2"]]  # columns' order; a short row padded
    assert (r.read, r.line) == (2, 5)  # blank rows are not read; the header is line 1


def test_csv_rows_missing_column_says_which(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Topic#,Tag\n1,x\n", "utf-8")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) Code .*is this a coded topics file"):
        list(iter_csv_rows(path, SourceReport("demo"), ("Topic#", "Code"), "a coded topics file"))


@pytest.mark.parametrize("reader", ["jsonl", "csv"])
def test_missing_corpus_file_is_a_typed_error_saying_what_to_set(tmp_path, reader):
    from advisor.errors import CorpusNotFoundError

    path = tmp_path / "gone.csv"
    with pytest.raises(CorpusNotFoundError, match=r"Corpus file .*gone\.csv not found.*ADVISOR_CORPUS_DIR"):
        if reader == "jsonl":
            list(iter_jsonl_gz(path, SourceReport("demo")))
        else:
            list(iter_csv_rows(path, SourceReport("demo"), ("a",), "a table"))


def test_taxonomy_real(corpus_dir):
    r = SourceReport("taxonomy")
    entries = read_taxonomy(corpus_dir, r)
    with open(corpus_dir / CHALLENGES_CSV, encoding="utf-8-sig", newline="") as f:
        csv_rows = [row for row in list(csv.reader(f))[1:] if any(c.strip() for c in row)]
    challenges = [e for e in entries if e.kind == "challenge"]
    assert len(challenges) == len(csv_rows)
    assert tuple(dict.fromkeys(e.category for e in challenges)) == CHALLENGE_CATEGORIES
    assert len({e.category for e in entries if e.kind == "benefit"}) == 6
    assert all(e.category and e.definition for e in entries)
    # categories carry down: a subcategory row has its category's name
    assert challenges[1].category == challenges[0].category != ""
    assert challenges[0].example_topic == example_topic(csv_rows[0][4])
    assert not challenges[0].example.startswith("T")
    no_sub = [e for e in challenges if not e.subcategory]
    assert no_sub and all(sum(x.category == e.category for x in challenges) == 1 for e in no_sub)
    # every category got its Overview count; the challenge counts add up to the sheet total
    assert all(e.count for e in entries)
    import openpyxl

    ws = openpyxl.load_workbook(corpus_dir / "replication" / "codebook.xlsx", read_only=True)["Overview"]
    totals = [row[1] for row in ws.iter_rows(values_only=True) if row[0] is None and row[1]]
    per_cat = {e.category: e.count for e in challenges}
    assert sum(per_cat.values()) == totals[0]
    assert r.skipped == 0 and r.sha256


# --- threads ------------------------------------------------------------------------
def test_normalise_tags_prefers_frequent_spelling():
    m = normalise_tags(["Beginners", "beginners", "Beginners", "Flax/JAX projects", "Flax/JAX Projects"])
    assert m["beginners"] == "Beginners"
    assert m["Flax/JAX projects"] == m["Flax/JAX Projects"] == "Flax/JAX Projects"


def test_threads_real(corpus_dir):
    r = SourceReport("threads")
    threads = read_threads(corpus_dir, r)
    with open(corpus_dir / CODED_TOPICS_CSV, encoding="utf-8-sig", newline="") as f:
        topic_ids = {row[1] for row in list(csv.reader(f))[1:] if row[1].strip()}
    with open(corpus_dir / ROOT_CAUSES_CSV, encoding="utf-8-sig", newline="") as f:
        rc_ids = {int(row["accepted_coded"]) for row in csv.DictReader(f)}
    assert len(threads) == len(topic_ids)
    assert [t.topic_id for t in threads] == sorted(t.topic_id for t in threads)
    labelled = [t for t in threads if t.label_source == "root_causes"]
    assert {t.topic_id for t in labelled} == rc_ids
    assert all(t.category in CHALLENGE_CATEGORIES and t.confidence == 1.0 for t in labelled)
    assert all(t.category is None and t.label_source == "derived" for t in threads if t not in labelled)
    assert all(t.root_cause and t.root_cause["question"] for t in labelled)
    assert not any(t.forum_category == "beginners" for t in threads)
    assert all(t.url == f"https://discuss.huggingface.co/t/{t.topic_id}" and t.codes for t in threads)
    assert r.read == sum(len(t.codes) for t in threads) + r.skipped


# --- 2022 cards ---------------------------------------------------------------------
def test_cards2022_invented_rows(tmp_path):
    rows = [
        {"id": "org/sent", "pipeline_tag": "text-classification", "library_name": "transformers",
         "tags": ["pytorch", "en", "de", "license:cc-by-nc-4.0"], "downloads": 12, "likes": 3,
         "files": ["config.json", "pytorch_model.bin", "model.safetensors"],
         "card": "---\nlanguage: fr\n---\n# Sent\n\nA sentiment model for product reviews, trained"
                 " on invented data for this test only.\n\nLABEL_0: negative\nLABEL_1: positive\n"},
        {"id": "org/nocard", "tags": [], "files": [], "card": "Error: the path 'README.md' does not exist in the given tree"},
        {"pipeline_tag": "fill-mask", "card": "no id"},
        {"id": "org/badyaml", "tags": [], "files": [], "card": "---\nkey: [unclosed\n---\nSome text."},
    ]
    path = _write_gz(tmp_path / CARDS_FILE, [json.dumps(r).encode() for r in rows] + [b"{oops"])
    r = SourceReport("cards2022")
    out = list(read_cards(path, r))
    assert [m.id for m, _ in out] == ["org/sent", "org/nocard", "org/badyaml"]
    assert r.kept == 3 and r.skipped == 2 and r.reasons["missing_id"] == 1 and r.reasons["broken_json"] == 1
    assert r.reasons["no_card"] == 1 and r.reasons["broken_front_matter"] == 1
    info, doc = out[0]
    assert info.source == "2022" and info.license == "cc-by-nc-4.0" and info.license_family == "non-commercial"
    assert info.languages == ["fr", "en", "de"]
    assert info.formats == ["safetensors", "pytorch"]
    assert info.label_map == {"LABEL_0": "negative", "LABEL_1": "positive"}
    assert doc.id == "model:org/sent" and doc.url == "https://huggingface.co/org/sent"
    assert "org/sent" in doc.text and "LABEL_0=negative" in doc.text
    assert doc.sections and doc.sections[0][1].startswith("A sentiment model")
    assert doc.metadata["license_family"] == "non-commercial" and doc.metadata["task"] == "text-classification"
    nocard = out[1][0]
    assert nocard.card_chars == 0 and nocard.card_quality == 0.0 and out[1][1].sections == []


def test_cards2022_real_limit(corpus_dir):
    r = SourceReport("cards2022")
    out = list(read_cards(corpus_dir / CARDS_FILE, r, limit=300))
    assert len(out) == 300 == r.kept
    assert all(d.id == f"model:{m.id}" and d.kind == "model" for m, d in out)
    with_card = [m for m, _ in out if m.card_chars]
    assert with_card and all(0 <= m.card_quality <= 1 for m in with_card)
    assert all(len(m.missing_sections) == round((1 - m.card_quality) * 8) for m, _ in out)


# --- 2026 metadata ------------------------------------------------------------------
def test_hub2026_invented_and_removed(tmp_path):
    base = {"license": "apache-2.0", "license_family": "oss", "pipeline_tag": "text-generation",
            "library": "transformers", "languages": ["en"], "tags": [], "likes": 2,
            "downloads_30d": 40, "parameters": 1_500_000_000, "formats": ["safetensors"],
            "base_model": "org/base", "gated": True, "removed": False}
    rows = [{**base, "id": "org/live"}, {**base, "id": "org/gone", "removed": True}, {**base, "id": ""}]
    path = _write_gz(tmp_path / HUB2026_FILE, [json.dumps(r).encode() for r in rows])
    r = SourceReport("hub2026")
    out = list(read_hub2026(path, r))
    assert [m.id for m, _ in out] == ["org/live"]
    assert r.reasons == {"removed": 1, "missing_id": 1}
    info, doc = out[0]
    assert (info.source, info.downloads, info.parameters, info.gated, info.base_model) == (
        "2026", 40, 1_500_000_000, True, "org/base")
    assert doc.kind == "model2026" and doc.id == "model2026:org/live" and not doc.sections
    assert "1.5B parameters" in doc.text and "org/base" in doc.text


def test_placeholder_base_models_read_as_none(tmp_path, corpus_dir):
    """A "None" / "undefined" / empty base is no base: the fine-tune graph and the LoRA
    snippet would otherwise name a model that does not exist. Checked on the real rows
    that carry one, and on a list and a comma-separated value."""
    assert [base_model_from(v) for v in (None, "", " None ", "undefined", "null", ["org/a", "org/b"],
                                         "org/a, org/b", [], "org/base")] == [
        None, None, None, None, None, "org/a", "org/a", None, "org/base"]
    real = [r for r in iter_jsonl_gz(corpus_dir / HUB2026_FILE, SourceReport("x"))
            if str(r.get("base_model")).strip().lower() in {"none", "undefined", ""}
            and r.get("base_model") is not None][:20]
    assert real, "the 2026 list has rows with a placeholder base_model"
    path = _write_gz(tmp_path / HUB2026_FILE, [json.dumps(r).encode() for r in real])
    out = list(read_hub2026(path, SourceReport("hub2026")))
    assert out and all(m.base_model is None for m, _ in out)
    assert not any("Fine-tuned from" in d.text for _, d in out)


def test_hub2026_languages_also_come_from_iso_tags(tmp_path):
    """Rows that list no language but tag one read like the 2022 cards do."""
    rows = [{"id": "org/tagged", "languages": [], "tags": ["bert", "en", "license:mit"]},
            {"id": "org/both", "languages": ["de"], "tags": ["de", "fr", "dataset:x"]},
            {"id": "org/none", "tags": ["transformers"]}]
    path = _write_gz(tmp_path / HUB2026_FILE, [json.dumps(r).encode() for r in rows])
    got = {m.id: m.languages for m, _ in read_hub2026(path, SourceReport("hub2026"))}
    assert got == {"org/tagged": ["en"], "org/both": ["de", "fr"], "org/none": []}


@pytest.mark.parametrize("limit", [50])
def test_hub2026_real(corpus_dir, limit):
    r = SourceReport("hub2026")
    out = list(read_hub2026(corpus_dir / HUB2026_FILE, r, limit=limit))
    assert len(out) == limit
    assert all(m.license_family in {"oss", "non-commercial", "unknown"} for m, _ in out)
    assert r.read == r.kept + r.skipped


def test_cards2022_non_string_task_from_front_matter_is_dropped(tmp_path):
    # Front matter may hold a list where a string is expected (seen in the 2022 snapshot).
    rows = [{"id": "org/listtask", "tags": [], "files": [],
             "card": "---\npipeline_tag:\n- None\nlibrary_name: 3\n---\nA card long enough to parse."}]
    path = _write_gz(tmp_path / CARDS_FILE, [json.dumps(r).encode() for r in rows])
    info, _ = next(read_cards(path, SourceReport("cards2022")))
    assert info.pipeline_tag is None and info.library is None
