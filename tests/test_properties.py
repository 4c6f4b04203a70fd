"""Property-based tests (hypothesis) for everything that parses user text.

- The output explainer: each detector, called directly (``detect`` itself swallows
  detector errors, which would hide bugs), never raises on arbitrary text or on text
  assembled from the fragments the detectors look for; ``explain_output`` always
  returns inert markdown.
- ``validate_model_id``: whatever it accepts is a clean id that round-trips (validating
  it again returns it unchanged; its model URL gives it back) and never contains "..",
  "//", whitespace or control characters; ids of the Hub's form are accepted unchanged.
- ``parse_filters``: either a typed error or values within the documented ranges, and
  parsing its own output gives the same filters.
- ``clean_question``: output never empty, never over the limit, free of control
  characters and surrogates, and stable under a second cleaning.

This module holds no example-based tests; those live beside each module's own tests.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from advisor.config import Config
from advisor.errors import InvalidInputError, InvalidModelIdError
from advisor.explainer import DETECTORS, _Context, explain_output
from advisor.modelfacts import validate_model_id
from advisor.validate import MAX_FILTER_K, MAX_PARAMETERS, clean_question, parse_filters
from tests.test_robustness import assert_inert

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# --- the explainer --------------------------------------------------------------------------
FRAGMENTS = [
    "LABEL_0", "LABEL_1", "LABEL_", "[{'label': '", "', 'score': ", "0.97", "}]",
    "tensor([[", "]])", "logits", "[[", "]]", "-1.5, 2.3", "nan", "inf", "loss: nan",
    "torch.Size([", "])", "Traceback (most recent call last):", "RuntimeError: ",
    "CUDA out of memory. Tried to allocate 64.00 MiB", "size mismatch for ",
    "mat1 and mat2 shapes cannot be multiplied (8x768 and 512x2)", "input_ids",
    "[101, 2023, 102]", "##ing", "B-PER", "I-LOC", "'entity': 'B-ORG'", "<pad>", "</s>",
    "[PAD]", "[UNK]", "the the the the the", "Some weights of", "were not initialized",
    "OSError: Can't load tokenizer for '", "expected all tensors to be on the same device",
    "\n", " ", ",", ":", "{", "}", "(", ")", "'", '"', "-", "e", "E+308", "1e-999",
    "9" * 400, "ﬁ", "\u202e", "\x00",
]
structured = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20)),
                      max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=600), structured)


@SETTINGS
@given(text=any_text, model_id=st.one_of(st.none(), st.text(max_size=30)),
       labels=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4))
def test_every_detector_survives_arbitrary_text(text, model_id, labels):
    ctx = _Context(model_id, labels)
    for det in DETECTORS:
        det(text, ctx)  # must not raise


@SETTINGS
@given(text=any_text)
def test_explain_output_never_raises_and_stays_inert(text):
    try:
        e = explain_output(text)
    except InvalidInputError:  # empty after cleaning, or too long: a message, not a crash
        return
    assert e.kinds and e.answer
    assert_inert(e.answer)


# --- model ids ----------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
id_part = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,20}(\.[A-Za-z0-9_-]{1,8})?\Z")
hub_ids = st.one_of(id_part, st.builds(lambda a, b: f"{a}/{b}", id_part, id_part))
id_like = st.one_of(
    hub_ids,
    st.text(max_size=60),
    st.lists(st.sampled_from(["a", "B", "0", "-", "_", ".", "/", "..", "//", ":", "https://",
                              "huggingface.co/", "hf.co/", "models/", "tree/main", "?x=1",
                              "#", "%2e", " ", "\n", "|", "<", ">", "\\"]),
             max_size=14).map("".join),
)


def _accepted_is_clean(out: str) -> None:
    assert out and out == out.strip()
    assert ".." not in out and "//" not in out
    assert not _CONTROL.search(out) and not re.search(r"\s", out)
    assert out.count("/") <= 1
    assert all(part and part[0].isalnum() for part in out.split("/"))
    assert validate_model_id(out) == out  # idempotent
    assert validate_model_id(f"https://huggingface.co/{out}") == out  # URL round-trip


@SETTINGS
@given(s=id_like)
def test_validate_model_id_accepts_only_clean_ids(s):
    try:
        out = validate_model_id(s)
    except InvalidModelIdError as e:
        assert str(e) and len(str(e)) < 600
        return
    _accepted_is_clean(out)


@SETTINGS
@given(s=hub_ids)
def test_hub_form_ids_are_accepted_unchanged(s):
    assume(not s.endswith(".git"))
    assert validate_model_id(s) == s
    assert validate_model_id(f"  https://huggingface.co/{s}/tree/main ") == s


# --- filters ------------------------------------------------------------------------------------
values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**15, max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["350M", "7b", "1,000", "1e9", "any", "oss", "non-commercial", "k", "-1",
                     "nan", "inf", "1_000k", "", "  ", "de", "EN"]),
    st.lists(st.integers(), max_size=2),
)
keys = st.sampled_from(["task", "language", "license_family", "license", "max_parameters",
                        "min_downloads", "library", "k", "other", "model_id"])


@SETTINGS
@given(filters=st.dictionaries(keys, values, max_size=6))
def test_parse_filters_typed_error_or_checked_values(filters):
    try:
        f = parse_filters(filters)
    except InvalidInputError as e:
        assert str(e).startswith("Filter") or "mapping" in str(e)
        return
    if f.k is not None:
        assert 1 <= f.k <= MAX_FILTER_K
    if f.max_parameters is not None:
        assert 0 <= f.max_parameters <= MAX_PARAMETERS
    if f.min_downloads is not None:
        assert f.min_downloads >= 0
    assert f.license_family in (None, "oss", "non-commercial", "unknown")
    if f.language is not None:
        assert f.language == f.language.lower() and 0 < len(f.language) <= 20
    for text in (f.task, f.language, f.library):
        assert text is None or (text.strip() == text and text and not _CONTROL.search(text))
    known = {k: v for k, v in f.as_dict().items() if k not in f.extra}
    again = parse_filters(known)
    assert again.as_dict() == known  # parsing its own output changes nothing


@SETTINGS
@given(filters=st.one_of(st.text(max_size=10), st.lists(st.integers(), max_size=3),
                         st.integers(), st.tuples(st.text(max_size=3))))
def test_parse_filters_refuses_non_mappings(filters):
    with pytest.raises(InvalidInputError, match="mapping"):
        parse_filters(filters)


# --- questions ----------------------------------------------------------------------------------
CFG = Config(max_question_chars=200)


@SETTINGS
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=200).map(
    lambda b: b.decode("utf-8", "surrogateescape"))))
def test_clean_question_output_is_clean_and_stable(text):
    try:
        q = clean_question(text, CFG)
    except InvalidInputError as e:
        assert "question" in str(e).lower()
        return
    assert q and q == q.strip() and len(q) <= CFG.max_question_chars
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", q)
    q.encode("utf-8")  # storable and sendable
    assert clean_question(q, CFG) == q
