"""A recommended model's warnings: worded from prompts/model_warnings.yaml, most important
first, and labelled short enough that a table shows the ones that matter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advisor import recommender
from advisor.model_warnings import (
    LABEL_CHARS,
    Warn,
    labels,
    load_warning_texts,
    render,
    warning_label,
)


def test_every_kind_the_recommender_raises_is_in_the_file():
    source = Path(recommender.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'Warn\("(\w+)"', source))
    texts = load_warning_texts()
    assert len(raised) >= 10 and raised <= set(texts), raised - set(texts)
    fields = {"tag": "t", "task": "t", "params": "1B", "budget": "1B", "library": "l",
              "languages": "l", "license": "l", "base": "b", "quality": "0.1",
              "missing": "m", "sections": "s"}
    for kind in texts:  # every text can be filled
        assert render([Warn(kind, fields)])[0]


def test_render_orders_by_the_file_and_fills_fields():
    out = render([Warn("card_gaps", {"sections": "evaluation"}), Warn("gated"),
                  Warn("related_task", {"tag": "fill-mask", "task": "summarization"})])
    assert [warning_label(w) for w in out] == [
        "Tagged fill-mask, not summarization", "Gated", "Card lacks evaluation"]
    assert out[1].startswith("Gated: accept the conditions")


def test_labels_name_the_first_warnings_only():
    out = render([Warn("no_card"), Warn("licence_unknown"), Warn("gated"),
                  Warn("card_gaps", {"sections": "evaluation"})])
    assert labels(out, 2) == "Gated; Licence not stated"
    assert labels([], 3) == ""


def test_a_text_without_a_label_is_cut():
    long = "x" * (LABEL_CHARS + 40)
    assert warning_label(long).endswith("…") and len(warning_label(long)) == LABEL_CHARS
    assert warning_label("For token-classification, the second reading") == \
        "For token-classification, the second reading"
    # a colon inside parentheses does not end the label
    aside = "For ner, the second reading of your request (first: text-classification)."
    assert warning_label(aside) == aside


@pytest.mark.parametrize("body, message", [
    ("gated:\n  short: 'Gated: yes'\n  detail: log in\n", "may not contain"),
    ("gated:\n  short: Gated\n", "needs a 'short' and a 'detail'"),
])
def test_a_bad_file_says_what_is_wrong(tmp_path, body, message):
    path = tmp_path / "w.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_warning_texts(path)


def test_unknown_kind_is_a_bug():
    with pytest.raises(KeyError):
        render([Warn("no_such_warning")])

