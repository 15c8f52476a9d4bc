"""Query-term highlighting and snippets as small HTML fragments (no Qt).

A word is highlighted when one of its tokens (``core.retrieval.tokenize.tokenize``, the
tokenizer BM25 uses) is a query token, so what lights up is exactly what BM25
matched. Stopwords are left out of the query terms: "what causes lung cancer"
should light up *causes*, *lung* and *cancer*, not every *what*.

Snippets pick the window of the document holding the most distinct query
terms, which is what a reviewer needs to judge relevance at a glance.
Everything here is plain string work, cheap enough for the worker that
fetches candidate rows, and free of Qt so it is tested without a display.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from core.retrieval.tokenize import tokenize

# Words as the reader sees them; each is tokenized to decide whether it matches.
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")

HIGHLIGHT_STYLE = "background-color:#ffe066; color:#000; font-weight:600"


def query_terms(query_text: str) -> frozenset[str]:
    """The query's tokens without stopwords (all tokens if every one is a stopword)."""
    terms = tokenize(query_text, stopwords=True) or tokenize(query_text)
    return frozenset(terms)


@lru_cache(maxsize=65536)
def _word_tokens(word: str) -> tuple[str, ...]:
    return tuple(tokenize(word))


def _matches(word: str, terms: frozenset[str]) -> bool:
    return any(t in terms for t in _word_tokens(word))


def highlight_html(text: str, terms: frozenset[str]) -> str:
    """``text`` HTML-escaped, with words that match ``terms`` wrapped in a highlight span."""
    if not terms or not text:
        return html.escape(text)
    out: list[str] = []
    last = 0
    for m in _WORD.finditer(text):
        if _matches(m.group(), terms):
            out.append(html.escape(text[last:m.start()]))
            out.append(f'<span style="{HIGHLIGHT_STYLE}">{html.escape(m.group())}</span>')
            last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def snippet_span(text: str, terms: frozenset[str], width: int = 220) -> tuple[int, int]:
    """Start and end of the ``width``-character window holding the most distinct query terms.

    Ties go to the earliest window; the window is widened to word boundaries.
    """
    if len(text) <= width:
        return 0, len(text)
    hits = [(m.start(), m.end(), tok) for m in _WORD.finditer(text)
            for tok in _word_tokens(m.group()) if tok in terms] if terms else []
    best_start, best_score = 0, -1
    j = 0
    counts: dict[str, int] = {}
    # Two-pointer sweep over hit positions: window starts at hit i, covers hits
    # whose end is within start + width.
    for i, (start, _end, _tok) in enumerate(hits):
        while j < len(hits) and hits[j][1] <= start + width:
            counts[hits[j][2]] = counts.get(hits[j][2], 0) + 1
            j += 1
        score = len(counts)
        if score > best_score:
            best_score, best_start = score, start
        tok = hits[i][2]
        if j > i:
            counts[tok] -= 1
            if not counts[tok]:
                del counts[tok]
    # Start a little before the first hit so the sentence reads naturally.
    start = max(0, best_start - min(24, width // 5)) if hits else 0
    start = min(start, len(text) - width)
    if start > 0:
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 and start - space < 30 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.find(" ", end)
        end = space if 0 <= space - end < 30 else end
    return start, end


def snippet_html(text: str, terms: frozenset[str], width: int = 220) -> str:
    """The best window of ``text`` (see :func:`snippet_span`) highlighted, with ellipses."""
    start, end = snippet_span(text, terms, width)
    body = highlight_html(text[start:end], terms)
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")
