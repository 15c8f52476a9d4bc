"""The tokenizer BM25 indexes and queries with.

Rule, in order:

1. Text that is not pure ASCII is put in Unicode NFKC form, so composed and
   decomposed accents ("é" vs "e" + U+0301), ligatures ("ﬁ") and full-width
   forms tokenize alike. ASCII text skips this step (it is already NFKC).
2. Lower-case with ``str.lower()``.
3. Tokens are maximal runs of Unicode letters and digits (``[^\\W_]+``),
   plus combining diacritical marks (U+0300..U+036F) after the first
   character: any other character, the underscore and the apostrophe included, separates
   tokens. "COVID-19" gives ``covid``, ``19``; "snake_case" gives ``snake``,
   ``case``; "don't" gives ``don``, ``t``.
4. With ``stopwords=True`` tokens in :data:`ENGLISH_STOPWORDS` are dropped.

No stemming, and no word segmentation for scripts written without spaces (a
run of CJK characters is one token): BM25 here matches rank-bm25 fed with
these tokens, and the scores must stay reproducible from this description
alone.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ENGLISH_STOPWORDS", "TOKENIZER_VERSION", "tokenize"]

# Bumped whenever the rule above changes: BM25 caches key on it.
TOKENIZER_VERSION = 1

# For lower-cased ASCII text this is exactly [^\W_]+, and faster.
_TOKEN_ASCII = re.compile(r"[a-z0-9]+")
_TOKEN = re.compile(r"[^\W_]+")
# Combining diacritical marks that survive NFKC (e.g. the dot of
# "İ".lower() == "i" + U+0307) stay inside their token instead of splitting
# the word; the slower pattern only runs on text that has one.
_MARK = re.compile(r"[\u0300-\u036f]")
_TOKEN_WITH_MARKS = re.compile(r"[^\W_](?:[^\W_]|[\u0300-\u036f])*")

# NLTK's classic English list (179 words). Its contracted forms ("don't",
# "you're", ...) are left out because step 3 splits them at the apostrophe
# into pieces ("don", "t", "re", ...) that the list already holds.
ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their
    theirs themselves what which who whom this that these those am is are was
    were be been being have has had having do does did doing a an the and but
    if or because as until while of at by for with about against between into
    through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both
    each few more most other some such no nor not only own same so than too
    very s t can will just don should now d ll m o re ve y ain aren couldn
    didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn
    weren won wouldn
    """.split()
)


def tokenize(text: str, stopwords: bool = False) -> list[str]:
    """Split ``text`` into lower-case letter/digit tokens (rule in the module docstring)."""
    if text.isascii():
        tokens = _TOKEN_ASCII.findall(text.lower())
    else:
        text = unicodedata.normalize("NFKC", text).lower()
        tokens = (_TOKEN_WITH_MARKS if _MARK.search(text) else _TOKEN).findall(text)
    if stopwords:
        return [t for t in tokens if t not in ENGLISH_STOPWORDS]
    return tokens
