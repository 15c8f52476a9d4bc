import os

import numpy as np
import pytest
import scipy.sparse as sp
from helpers_eval import load_scifact, random_corpus
from rank_bm25 import BM25Okapi

from core.progress import Cancelled, Progress
from core.project.file import Project
from core.retrieval.bm25 import BM25Index, _select_top_k, load_or_build
from core.retrieval.tokenize import tokenize

QUERIES = ["w0 w1", "w3 w3 w3 w10", "w59 w2 unknownword", "w0", "nothing here", "w5 w0 w5 w17 w40"]


def _build(texts, **kw):
    return BM25Index.build([f"d{i}" for i in range(len(texts))], texts, **kw)


def test_scores_match_rank_bm25_on_synthetic_corpus():
    texts = random_corpus(80, seed=3)
    index = _build(texts)
    ref = BM25Okapi([tokenize(t) for t in texts])
    # The corpus has terms in more than half the documents (negative idf ->
    # epsilon floor), empty documents, repeated and unknown query tokens.
    assert any(v < 0 for v in (np.log(80 - n + 0.5) - np.log(n + 0.5)
                               for n in np.bincount(index.weights.nonzero()[0])))
    assert index.average_idf == pytest.approx(ref.average_idf, abs=1e-12)
    assert index.avgdl == ref.avgdl
    for term, i in index.term_index.items():
        assert index.idf[i] == pytest.approx(ref.idf[term], abs=1e-12)
    for q in QUERIES:
        diff = np.abs(index.get_scores(q) - ref.get_scores(tokenize(q))).max()
        assert diff < 1e-9, q


def test_parameters_are_honoured():
    texts = random_corpus(40, seed=5)
    index = _build(texts, k1=0.9, b=0.4, epsilon=0.1)
    ref = BM25Okapi([tokenize(t) for t in texts], k1=0.9, b=0.4, epsilon=0.1)
    for q in QUERIES:
        assert np.abs(index.get_scores(q) - ref.get_scores(tokenize(q))).max() < 1e-9


def test_stopwords_option():
    texts = ["the cat sat", "the dog", "a bird of the sea"]
    plain = _build(texts)
    stopped = _build(texts, stopwords=True)
    assert [d for d, _ in plain.search("the", 10)] == ["d1", "d0", "d2"]  # shortest first
    assert stopped.search("the", 10) == []
    assert [d for d, _ in stopped.search("the dog", 10)] == ["d1"]


def test_search_top_k_order_ties_and_non_matching():
    # d1, d3 and d4 are identical (equal scores): they rank in document order.
    texts = ["apple banana", "cherry", "apple", "cherry", "cherry", "date date", "elder"]
    index = _build(texts)
    hits = index.search("cherry apple", 10)
    scores = index.get_scores("cherry apple")
    # Hand-computed: N=7, avgdl=9/7; idf(apple)=ln(5.5/2.5)=0.788, idf(cherry)=ln(4.5/3.5)=0.251.
    # d2 (len 1): 0.788*2.5/(1+1.25)=0.876; d0 (len 2): 0.788*2.5/(1+2.125)=0.631;
    # d1, d3, d4 (len 1): 0.251*2.5/2.25=0.279; d5 and d6 share no term.
    assert [d for d, _ in hits] == ["d2", "d0", "d1", "d3", "d4"]
    assert [round(s, 3) for _, s in hits] == [0.876, 0.631, 0.279, 0.279, 0.279]
    assert [s for _, s in hits] == [scores[int(d[1:])] for d, _ in hits]
    # The cut falls inside the tie: the earliest tied documents are kept.
    assert [d for d, _ in index.search("cherry apple", 4)] == ["d2", "d0", "d1", "d3"]
    assert [d for d, _ in index.search("cherry", 2)] == ["d1", "d3"]
    assert index.search_batch(["cherry apple", "cherry"], 4) == [
        index.search("cherry apple", 4), index.search("cherry", 4)]
    assert index.search("unknown", 5) == []
    assert index.search("cherry", 0) == []


def test_zero_scores_are_not_results():
    # "x" is in exactly half of the documents: idf = ln(2.5) - ln(2.5) = 0, so
    # its documents score 0 like every non-matching one and are not returned.
    index = _build(["x a", "x b", "c", "d"])
    assert index.get_scores("x").tolist() == [0.0, 0.0, 0.0, 0.0]
    assert index.search("x", 5) == [] and index.search_batch(["x"], 5) == [[]]
    assert [d for d, _ in index.search("x a", 5)] == ["d0"]


def test_search_batch_equals_search_and_sparse_product():
    texts = random_corpus(120, seed=11)
    index = _build(texts)
    queries = QUERIES * 3 + [""]
    seen = []
    batch = index.search_batch(queries, 7, progress=Progress(lambda f, m: seen.append(f)))
    assert batch == [index.search(q, 7) for q in queries]
    assert seen[-1] == 1.0
    assert index.search_batch([], 7) == []
    # Scores are bit-identical to the sparse product C · W (C: query x term counts).
    counts = np.zeros((len(QUERIES), len(index.vocabulary)))
    for row, q in enumerate(QUERIES):
        for term, c in index._query_counts(q).items():
            counts[row, term] = c
    product = (sp.csr_matrix(counts) @ index.weights).toarray()
    for row, q in enumerate(QUERIES):
        assert np.array_equal(product[row], index.get_scores(q))


def _reference_top_k(index, query, k):
    """Top k by (score desc, doc order) over every non-zero score, the slow obvious way."""
    scores = index.get_scores(query)
    nz = np.flatnonzero(scores)
    order = nz[np.lexsort((nz, -scores[nz]))][:k]
    return [(index.doc_ids[i], float(scores[i])) for i in order]


def test_search_paths_agree_with_the_obvious_top_k():
    # A large vocabulary gives both short posting lists (the matched-documents
    # path) and long ones (the corpus-array path with a sampled threshold).
    texts = random_corpus(3000, seed=4, vocab_size=3000)
    index = _build(texts)
    queries = ["w0 w1 w2", "w2500 w2999", "w7 w1500", "w1 w1", "w3 w4 w5 w6"]
    for q in queries:
        for k in (1, 10, 100):
            assert index.search(q, k) == _reference_top_k(index, q, k), (q, k)


def test_top_k_selection_with_sampled_threshold():
    # Enough values that the sampled lower bound is used; many exact ties.
    rng = np.random.default_rng(0)
    vals = rng.integers(1, 50, size=20000).astype(float)
    idx = rng.permutation(20000)
    for k in (1, 10, 100):
        got_idx, got_vals = _select_top_k(idx, vals, k)
        order = np.lexsort((idx, -vals))[:k]
        assert got_idx.tolist() == idx[order].tolist()
        assert got_vals.tolist() == vals[order].tolist()


def test_save_load_round_trip(tmp_path):
    texts = random_corpus(30, seed=2)
    index = _build(texts, stopwords=True, k1=1.2)
    index.save(tmp_path / "idx")
    again = BM25Index.load(tmp_path / "idx")
    assert again.doc_ids == index.doc_ids and again.vocabulary == index.vocabulary
    assert (again.k1, again.b, again.epsilon, again.stopwords) == (1.2, 0.75, 0.25, True)
    for q in QUERIES:
        assert np.array_equal(again.get_scores(q), index.get_scores(q))


def test_empty_corpus_and_bad_input():
    empty = BM25Index.build([], [])
    assert empty.get_scores("x").shape == (0,)
    assert empty.search("x", 5) == [] and empty.search_batch(["x"], 5) == [[]]
    with pytest.raises(ValueError):
        BM25Index.build(["a", "a"], ["x", "y"])
    with pytest.raises(ValueError):
        BM25Index.build(["a", "b"], ["x"])


def test_build_reports_progress_and_can_be_cancelled():
    seen = []
    BM25Index.build(["a", "b"], ["x y", "y z"], progress=Progress(lambda f, m: seen.append(f)))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        BM25Index.build(["a"], ["x"], progress=progress)


def test_load_or_build_caches_per_corpus_revision(tiny_project, monkeypatch):
    with Project.open(tiny_project) as project:
        first = load_or_build(project)
        assert first.doc_ids == project.document_ids()
        assert first.search("lung cancer causes", 3)[0][0] in {"d7", "d8", "d9"}
        cached = list((project.data_dir / "bm25").iterdir())
        assert len(cached) == 1

    def no_rebuild(*a, **kw):
        raise AssertionError("rebuilt a cached index")

    with Project.open(tiny_project) as project:
        monkeypatch.setattr(BM25Index, "_from_tokens", no_rebuild)
        again = load_or_build(project)
        assert again.doc_ids == first.doc_ids
        assert np.array_equal(again.get_scores("bone density"), first.get_scores("bone density"))
        monkeypatch.undo()

        with project.transaction():
            project.db["documents"].insert({"id": "d13", "title": "Bone", "text": "bone bone"})
            project.touch_corpus()
        rebuilt = load_or_build(project)
        assert rebuilt.doc_ids[-1] == "d13"
        assert rebuilt.search("bone", 1)[0][0] == "d13"
        # Only the current revision stays cached; other parameters get their own entry.
        assert [p.name for p in (project.data_dir / "bm25").iterdir()] != [c.name for c in cached]
        assert len(list((project.data_dir / "bm25").iterdir())) == 1
        assert rebuilt.stopwords and rebuilt.search("the", 5) == []  # the project default
        without = load_or_build(project, stopwords=False)
        assert not without.stopwords and without.search("the", 5)


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _drop_last_length(path):
    np.save(path, np.load(path)[:-1])


DAMAGE = {
    "truncated weights.npz": ("weights.npz", _truncate),
    "empty doc_lengths.npy": ("doc_lengths.npy", lambda p: p.write_bytes(b"")),
    "truncated idf.npy": ("idf.npy", lambda p: _truncate(p, 0.9)),
    "doc_lengths one short": ("doc_lengths.npy", _drop_last_length),
    "garbled meta.json": ("meta.json", lambda p: p.write_text('{"format_version": 1, "params"')),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_cache_is_rebuilt_with_a_notice(tiny_project, damage):
    name, spoil = DAMAGE[damage]
    with Project.open(tiny_project) as project:
        reference = load_or_build(project)
        (entry,) = (project.data_dir / "bm25").iterdir()
        spoil(entry / name)
        messages = []
        index = load_or_build(project, Progress(lambda fraction, message: messages.append(message)))
        assert any("damaged and is rebuilt" in m and name in m for m in messages), messages
        assert index.doc_ids == reference.doc_ids
        for query in ("lung cancer causes", "bone density"):
            assert np.array_equal(index.get_scores(query), reference.get_scores(query))
        # The rebuilt cache is whole again: the next load reads it without a notice.
        messages.clear()
        load_or_build(project, Progress(lambda fraction, message: messages.append(message)))
        assert messages == ["BM25: loading index", "BM25: index loaded"]


def test_temporary_folders_of_killed_builds_are_swept(tiny_project):
    with Project.open(tiny_project) as project:
        root = project.data_dir / "bm25"
        root.mkdir()
        dead = root / f".tmp-{2 ** 22 + 12345}-abc"  # above Linux's pid_max: no such process
        live = root / f".tmp-{os.getpid()}-def"
        for folder in (dead, live):
            folder.mkdir()
            (folder / "weights.npz").write_bytes(b"partial")
        load_or_build(project)
        names = sorted(p.name for p in root.iterdir())
    assert dead.name not in names and live.name in names
    assert len([n for n in names if not n.startswith(".tmp-")]) == 1  # the new index


@pytest.mark.slow
def test_scores_match_rank_bm25_on_scifact():
    doc_ids, texts, queries, qrels = load_scifact()
    index = BM25Index.build(doc_ids, texts)
    ref = BM25Okapi([tokenize(t) for t in texts])
    test_queries = [queries[q] for q in qrels["test"]]
    worst = 0.0
    for q in test_queries:
        worst = max(worst, float(np.abs(index.get_scores(q) - ref.get_scores(tokenize(q))).max()))
    assert worst < 1e-9
    for q in test_queries[:100]:
        assert index.search(q, 100) == _reference_top_k(index, q, 100)
