"""Query-term highlighting and snippet windows (core.retrieval.highlight, no Qt)."""

from core.retrieval.highlight import (
    highlight_html,
    query_terms,
    snippet_html,
    snippet_span,
)


def test_query_terms_drop_stopwords_but_never_everything():
    assert query_terms("what causes lung cancer") == {"causes", "lung", "cancer"}
    assert query_terms("what is it") == {"what", "is", "it"}


def test_highlight_marks_words_whose_tokens_match_and_escapes_html():
    out = highlight_html("COVID-19 <b>lung</b> cancers & Lung", frozenset({"lung", "19"}))
    assert out.count("<span") == 3  # COVID-19 (token 19), lung, Lung
    assert "&lt;b&gt;" in out and "&amp;" in out
    assert "cancers" in out and ">cancers<" not in out  # no stemming, as in BM25


def test_snippet_picks_the_window_with_most_distinct_terms():
    text = ("Filler words about nothing at all. " * 12 + "Smoking causes lung cancer in adults. "
            + "More filler text that is long enough. " * 12)
    terms = frozenset({"smoking", "lung", "cancer"})
    start, end = snippet_span(text, terms, width=80)
    assert "Smoking causes lung cancer" in text[start:end]
    assert end - start <= 110
    html = snippet_html(text, terms, width=80)
    assert html.startswith("… ") and html.endswith(" …")
    assert html.count("<span") == 3


def test_short_text_is_kept_whole():
    assert snippet_span("Short text.", frozenset({"text"})) == (0, 11)
    assert snippet_html("", frozenset({"x"})) == ""
