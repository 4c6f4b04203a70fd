"""Word n-gram classifier (advisor.ngrams): fit, score, save as arrays and read back."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.ngrams import ABSENT, NgramClassifier

# invented texts: class 0 speaks of tokenizers, class 2 of Spaces; class 1 has none
TEXTS = ["tokenizer padding side left", "tokenizer fast slow mismatch", "padding tokenizer pad token",
         "space build failed hardware", "space sleeping restart hardware", "space build logs restart"]
Y = np.array([0, 0, 0, 2, 2, 2])


@pytest.fixture(scope="module")
def model():
    return NgramClassifier.fit(TEXTS, Y, n_classes=3, c=32.0)


def test_fit_learns_the_words_of_each_class_and_never_picks_an_absent_one(model):
    # "tokenizer" and "space" occur in 2+ texts, a one-off word ("mismatch") does not
    assert "tokenizer" in model.terms and "space build" in model.terms
    assert "mismatch" not in model.terms
    assert model.intercept[1] == ABSENT
    logits = model.logits(["my tokenizer has the wrong pad token", "the space build keeps failing"])
    assert logits.argmax(axis=1).tolist() == [0, 2]


def test_arrays_round_trip_scores_alike(model, tmp_path):
    np.savez(tmp_path / "m.npz", **model.arrays("lex_"))
    with np.load(tmp_path / "m.npz") as z:  # no pickles needed for the vocabulary
        loaded = NgramClassifier.from_arrays({k: z[k] for k in z.files}, "lex_")
    texts = ["padding side of the tokenizer", "restart the space", "unrelated words"]
    assert loaded.terms == model.terms
    assert np.allclose(loaded.logits(texts), model.logits(texts), atol=1e-5)


def test_from_arrays_refuses_disagreeing_or_missing_arrays(model):
    arrays = model.arrays("lex_")
    arrays["lex_idf"] = arrays["lex_idf"][:-1]
    with pytest.raises(ValueError, match="disagree"):
        NgramClassifier.from_arrays(arrays, "lex_")
    with pytest.raises(KeyError):
        NgramClassifier.from_arrays({}, "lex_")


def test_one_class_only_fits_without_a_regression():
    m = NgramClassifier.fit(["alpha beta", "alpha gamma"], np.array([1, 1]), n_classes=2)
    assert m.intercept.tolist() == [ABSENT, 0.0]
    assert m.logits(["alpha"]).argmax() == 1


def test_reasons_name_the_deciding_words_without_filler_or_repeats():
    texts = [t + " with the model" for t in TEXTS]  # "model" is in every text: idf 1
    m = NgramClassifier.fit(texts, Y, n_classes=3, c=32.0)
    said = m.reasons("the tokenizer padding side is wrong with the model", 0, min_idf=0.0)
    assert said and said[0] in {"tokenizer", "padding", "padding side"}
    assert not any(w in {"the", "is", "with"} for t in said for w in t.split())  # stop words
    words = [w for t in said for w in t.split()]
    assert len(words) == len(set(words))  # "padding side" does not also bring "padding"
    assert "model" not in m.reasons("the model model model", 0, min_idf=1.5)  # everywhere
    assert m.reasons("the tokenizer padding side", 2, min_idf=0.0) == []  # speaks of class 0
    assert m.reasons("nothing known here", 0) == []
