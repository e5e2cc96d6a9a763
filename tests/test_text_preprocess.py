"""Unit tests for medfusion_lib.text.preprocess (tokenizers, stemming, lemmatization fallback, stopwords)."""
import warnings

import pytest

from medfusion_lib.text import preprocess as pp


def test_tokens_point_back_into_the_original_text():
    text = "Pt’s temp 38.5°C — denies CP/SOB; can't lie flat!"
    tokens = pp.tokenize_with_spans(text)
    assert all(text[t.start:t.end] == t.text for t in tokens)
    words = [t.text for t in tokens]
    assert "38.5" in words and "CP" in words and "/" in words and "SOB" in words
    assert "can't" in words and "Pt’s" in words  # curly apostrophes keep a word whole


@pytest.mark.parametrize("text", ["", "   ", "\n\t  "])
def test_empty_and_blank_text_have_no_tokens(text):
    assert pp.tokenize(text) == [] and pp.tokenize_with_spans(text) == []
    assert pp.normalize(text) == ""


def test_non_ascii_text_tokenizes():
    assert pp.tokenize("Fièvre élevée, toux sèche 咳嗽") == ["fièvre", "élevée", ",", "toux", "sèche", "咳嗽"]


@pytest.mark.parametrize("bad, error", [(None, TypeError), (b"fever", TypeError), (42, TypeError)])
def test_bad_input_gets_a_clear_error(bad, error):
    with pytest.raises(error, match="str|string|decode"):
        pp.tokenize(bad)
    with pytest.raises(error):
        pp.normalize(bad)


def test_list_functions_reject_a_bare_string():
    for func in (pp.stem, pp.lemmatize, pp.remove_stopwords):
        with pytest.raises(TypeError, match="tokenize"):
            func("fever and cough")


def test_normalize_unifies_case_space_and_apostrophes():
    assert pp.normalize("  Can’t   LIE\nflat ") == "can't lie flat"


def test_treebank_splits_contractions():
    assert pp.treebank_tokenize("I don't cough.") == ["I", "do", "n't", "cough", "."]


def test_stemming_joins_inflections():
    assert pp.stem(["coughing", "coughs", "Coughed"]) == ["cough", "cough", "cough"]
    assert pp.stem(["wheezing"], algorithm="porter") == ["wheez"]
    with pytest.raises(ValueError, match="snowball"):
        pp.stem(["x"], algorithm="lancaster")


def test_lemmatize_falls_back_to_the_stemmer_with_a_message():
    if pp.wordnet_available():
        assert pp.lemmatize(["coughs"]) == ["cough"]
        return
    pp._WARNED_NO_WORDNET = False
    with pytest.warns(UserWarning, match="nltk.downloader wordnet"):
        assert pp.lemmatize(["coughs", "fevers"]) == ["cough", "fever"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        pp.lemmatize(["chills"])


def test_ngrams():
    assert pp.ngrams(["no", "night", "sweats"], 2) == [("no", "night"), ("night", "sweats")]
    assert pp.ngrams(["a"], 3) == []
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            pp.ngrams(["a"], bad)


def test_clinical_stopwords_keep_negators_but_generic_list_drops_them():
    tokens = pp.tokenize("she has no fever and does not cough up blood")
    generic = pp.remove_stopwords(tokens, pp.GENERIC_STOPWORDS)
    clinical = pp.remove_stopwords(tokens)
    assert "no" not in generic and "not" not in generic and "up" not in generic
    assert clinical == ["no", "fever", "not", "cough", "up", "blood"]
    assert {"no", "not", "denies", "without", "never"} <= set(pp.NEGATORS)
    assert not pp.NEGATORS & pp.CLINICAL_STOPWORDS


def test_very_long_text_is_fine():
    text = "no fever, cough. " * 20000
    assert len(pp.tokenize(text)) == 100000
