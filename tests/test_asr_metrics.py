"""Word error rate and accuracy: the edit distance must be exact."""

import pytest

from speech.asr.metrics import accuracy, edit_distance, word_error_rate
from speech.asr.phrases import match_phrase, normalize_phrases


def test_edit_distance_cases():
    assert edit_distance([], []) == 0
    assert edit_distance("a b c".split(), "a b c".split()) == 0
    assert edit_distance("a b c".split(), []) == 3
    assert edit_distance([], "x y".split()) == 2
    assert edit_distance("a b c".split(), "a x c".split()) == 1  # substitution
    assert edit_distance("a b c".split(), "a c".split()) == 1  # deletion
    assert edit_distance("a b c".split(), "a b b c".split()) == 1  # insertion
    assert edit_distance("kitten".replace("", " ").split(), "sitting".replace("", " ").split()) == 3


def test_word_error_rate_is_corpus_level():
    refs = ["please try again", "thank you"]
    hyps = ["please try", "thank you very much"]
    # 1 deletion + 2 insertions over 5 reference words
    assert word_error_rate(refs, hyps) == pytest.approx(3 / 5)
    assert word_error_rate(["a b"], ["a b"]) == 0.0
    with pytest.raises(ValueError):
        word_error_rate(["a"], [])
    with pytest.raises(ValueError):
        word_error_rate([""], [""])


def test_accuracy_and_phrase_matching():
    assert accuracy(["yes", "no", None], ["yes", "yes", None]) == pytest.approx(2 / 3)
    assert normalize_phrases(["Yes!", "yes", "  Thank   you ", ""]) == ["yes", "thank you"]
    assert match_phrase("THANK you", ["yes", "thank you"]) == "thank you"
    assert match_phrase("thank", ["yes", "thank you"]) is None
