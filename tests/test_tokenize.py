from core.retrieval.tokenize import ENGLISH_STOPWORDS, tokenize


def test_lowercases_and_splits_on_non_alphanumerics():
    assert tokenize("COVID-19 vaccines, (mRNA)!") == ["covid", "19", "vaccines", "mrna"]


def test_underscore_and_apostrophe_separate_tokens():
    assert tokenize("snake_case don't") == ["snake", "case", "don", "t"]


def test_unicode_letters_and_normalisation():
    # Composed and decomposed "é" give the same token; the ligature "ﬁ" folds to "fi".
    assert tokenize("Café cafe\u0301") == ["café", "café"]
    assert tokenize("ﬁbrosis α-helix") == ["fibrosis", "α", "helix"]
    # The dot that "İ".lower() leaves as a combining mark stays inside the word.
    assert len(tokenize("İstanbul")) == 1


def test_stopwords_are_optional():
    text = "The role of vitamin D in the bones"
    assert tokenize(text) == ["the", "role", "of", "vitamin", "d", "in", "the", "bones"]
    assert tokenize(text, stopwords=True) == ["role", "vitamin", "bones"]
    assert {"the", "and", "t", "don"} <= ENGLISH_STOPWORDS
    assert all(w == w.lower() and w.isalnum() for w in ENGLISH_STOPWORDS)


def test_empty_and_punctuation_only():
    assert tokenize("") == []
    assert tokenize(" -- !! __ ") == []
