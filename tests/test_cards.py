"""Card parsing: real cards read from the corpus at test time, invented edge cases."""

from __future__ import annotations

import gzip
import json

import pytest

from builder.cards import (
    QUALITY_SECTIONS,
    card_quality,
    parse_front_matter,
    prioritised_sections,
    split_sections,
)
from builder.labelmap import extract_label_map
from builder.sources.metadata import license_family

# Models whose 2022 cards state something we can check by reading them.
REAL_IDS = (
    "cardiffnlp/twitter-roberta-base-sentiment",  # "0 -> Negative; 1 -> Neutral; 2 -> Positive"
    "mdhugol/indonesia-bert-sentiment-classification",  # label_index = {'LABEL_0': 'positive', ...}
    "bert-base-uncased",  # a complete, well-sectioned card
    "dslim/bert-base-NER",
)


@pytest.fixture(scope="module")
def real_cards(corpus_dir) -> dict[str, str]:
    out: dict[str, str] = {}
    with gzip.open(corpus_dir / "model_cards_2022.jsonl.gz", "rb") as f:
        for line in f:
            if any(i.encode() in line for i in REAL_IDS):
                row = json.loads(line)
                if row["id"] in REAL_IDS:
                    out[row["id"]] = row["card"]
    missing = set(REAL_IDS) - set(out)
    assert not missing, f"corpus lacks {missing}"
    return out


def test_label_map_arrow_lines_real(real_cards):
    card = real_cards["cardiffnlp/twitter-roberta-base-sentiment"]
    labels = extract_label_map(card, None)
    assert list(labels) == ["LABEL_0", "LABEL_1", "LABEL_2"]
    assert [v.lower() for v in labels.values()] == ["negative", "neutral", "positive"]


def test_label_map_dict_literal_real(real_cards):
    card = real_cards["mdhugol/indonesia-bert-sentiment-classification"]
    assert extract_label_map(card, None) == {"LABEL_0": "positive", "LABEL_1": "neutral", "LABEL_2": "negative"}


def test_quality_real_cards(real_cards):
    good, _ = card_quality(real_cards["bert-base-uncased"], parse_front_matter(real_cards["bert-base-uncased"]).data)
    sparse, missing = card_quality(real_cards["cardiffnlp/twitter-roberta-base-sentiment"], {})
    assert good > sparse
    assert "how-to-use code" not in missing  # the card has a from_pretrained example
    assert "limitations/bias" in missing
    ner_card = real_cards["dslim/bert-base-NER"]
    score, ner_missing = card_quality(ner_card, parse_front_matter(ner_card).data)
    assert score == pytest.approx(1 - len(ner_missing) / len(QUALITY_SECTIONS), abs=1e-3)
    assert {"intended uses", "limitations/bias", "training data"}.isdisjoint(ner_missing)


def test_sections_real_priority(real_cards):
    sections = prioritised_sections(real_cards["bert-base-uncased"])
    headings = [h for h, _ in sections]
    assert not any("citation" in h.lower() or "bibtex" in h.lower() for h in headings)
    assert headings.index("How to use") < headings.index("Training data")


# --- invented fixtures --------------------------------------------------------------
CARD = """---
license: mit
datasets: [imdb]
---
# Tiny model

A small invented model used to test the parser; it classifies invented movie reviews.

## How to use
```python
from transformers import pipeline
# not a heading: inside code
clf = pipeline("text-classification", model="org/tiny")
```

## Citation
@misc{x, title={y}}
"""


def test_split_sections_ignores_code_headings():
    sections = split_sections(CARD)
    assert [h for h, _ in sections] == ["Tiny model", "How to use", "Citation"]
    assert "# not a heading" in sections[1][1]
    assert split_sections("plain text only") == [("description", "plain text only")]
    assert split_sections("") == []


def test_quality_invented():
    score, missing = card_quality(CARD, parse_front_matter(CARD).data)
    assert missing == ["intended uses", "limitations/bias", "evaluation"]
    assert score == pytest.approx(5 / 8, abs=1e-3)
    assert card_quality("", {}) == (0.0, list(QUALITY_SECTIONS))


def test_broken_front_matter_is_flagged_not_raised():
    fm = parse_front_matter("---\nlicense: [mit\n---\ntext")
    assert fm.broken and fm.data == {}
    assert parse_front_matter("no front matter").data == {}


@pytest.mark.parametrize("text, expected", [
    ("| label | meaning |\n|---|---|\n| LABEL_0 | negative |\n| LABEL_1 | positive |",
     {"LABEL_0": "negative", "LABEL_1": "positive"}),
    ("LABEL_0 -> sad\nLABEL_1 -> happy\n", {"LABEL_0": "sad", "LABEL_1": "happy"}),
    ("Labels:\n0: negative\n1: positive\n", {"LABEL_0": "negative", "LABEL_1": "positive"}),
    ("Steps:\n0: install it\n1: run it\n", {}),  # numbered lines without the word label
    ("model.config.id2label = {0: 'neg', 1: 'pos'}", {"LABEL_0": "neg", "LABEL_1": "pos"}),
    ("nothing to see here", {}),
])
def test_label_map_patterns(text, expected):
    assert extract_label_map(text, None) == expected


def test_label_map_from_config_wins():
    cfg = {"id2label": {"0": "toxic", "1": "clean", "2": "LABEL_2"}}
    assert extract_label_map("LABEL_0: other", cfg) == {"LABEL_0": "toxic", "LABEL_1": "clean"}


@pytest.mark.parametrize("lic, family", [
    ("apache-2.0", "oss"), ("mit", "oss"), ("creativeml-openrail-m", "oss"),
    ("cc-by-nc-4.0", "non-commercial"), ("cc-by-nc-sa-4.0", "non-commercial"),
    ("flux-non-commercial-license", "non-commercial"), ("other", "unknown"), (None, "unknown"),
])
def test_license_family(lic, family):
    assert license_family(lic) == family


def test_model_header_states_size_and_labels():
    from advisor.types import ModelInfo
    from builder.documents import model_document

    info = ModelInfo(id="org/tiny-sentiment", source="2022", pipeline_tag="text-classification",
                     parameters=66_400_000, downloads=12_345, likes=7,
                     label_map={"LABEL_0": "negative", "LABEL_1": "positive"})
    doc = model_document(info, "# Tiny\n\nA small sentiment model.")
    first = doc.text.splitlines()[0]
    assert "task: text-classification" in first and "66.4M parameters" in first
    assert "12,345 downloads (2022, monthly)" in first
    assert "Labels: LABEL_0=negative, LABEL_1=positive." in doc.text
    assert doc.id == "model:org/tiny-sentiment" and doc.metadata["parameters"] == 66_400_000
