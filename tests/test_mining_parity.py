"""Reference parity on real data: SciFact train, the bundled model, TopK-PercPos settings.

Our miner runs its production path (Retrieval, cached document embeddings,
the query embedding cache, rules, storage). ``mine_hard_negatives`` gets the
very same vectors through its own cache folder (so it does not re-encode)
and the real bundled SentenceTransformer for its similarity function (its
encode methods are watched: the test fails if the cache was missed). With
top sampling both must pick the same negatives; a difference is accepted
only where a score sits within 1e-5 of a cut (the margin threshold or the
last negative taken), i.e. a float32 tie that the two matmul orders may
break either way.

Run with ``--runslow``; set ``RS_SCIFACT_CACHE`` to an encoded SciFact
project (e.g. /work/cache/scifact.rsproj) to skip encoding 5,183 abstracts.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
from conftest import cache_missed
from helpers_mining import st_reference_negatives
from helpers_retrieval import SCIFACT, scifact_project

pytestmark = pytest.mark.slow

TIE = 1e-5


@pytest.mark.parametrize("settings", [
    dict(num_negatives=5, range_max=50, relative_margin=0.05),
    dict(num_negatives=3, range_min=5, range_max=30, relative_margin=0.1, absolute_margin=0.02),
], ids=["topk-percpos", "window-and-margins"])
def test_scifact_train_negatives_equal_mine_hard_negatives(tmp_path_factory, settings):
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip("SciFact not available")
    import torch

    torch.set_num_threads(1)
    from core.mining.config import MiningConfig
    from core.mining.miner import mine
    from core.mining.store import pass_candidates
    from core.project.file import Project
    from core.retrieval.embeddings import query_embeddings
    from core.retrieval.service import Retrieval

    path = scifact_project(tmp_path_factory.mktemp("scifact-mining"))
    with Project.open(path) as project:
        retrieval = Retrieval(project)
        doc_ids, doc_vectors = retrieval.document_embeddings()
        qrels = project.qrels("train")
        queries = [q for q in project.queries("train") if q.id in qrels]
        result = mine(project, MiningConfig(source="dense", sampling="top", **settings), retrieval=retrieval)
        ours = {q.id: [d.doc_id for d in pass_candidates(project, q.id, result.pass_number)
                       if d.reason == "kept"] for q in queries}
        query_vectors = query_embeddings(project, retrieval.encoder, [q.id for q in queries])
        texts = {d.id: d.retrieval_text for d in project.iter_documents()}
    assert result.counts["queries_mined"] == len(queries) == 809

    model = retrieval.encoder.model
    # Our cached vectors are what the reference model itself computes.
    sample = [doc_ids[i] for i in range(0, len(doc_ids), 500)]
    theirs_vecs = model.encode_document([texts[d] for d in sample], normalize_embeddings=True,
                                        convert_to_numpy=True)
    row = {d: i for i, d in enumerate(doc_ids)}
    cos = np.sum(theirs_vecs * doc_vectors[[row[d] for d in sample]], axis=1)
    assert cos.min() > 0.9999

    corpus = [texts[d] for d in doc_ids]
    encodes = []  # the reference must read both matrices from its cache, never encode
    with pytest.MonkeyPatch.context() as patch:
        for name in ("encode", "encode_query", "encode_document"):
            patch.setattr(model, name, cache_missed(name, encodes))
        ref = st_reference_negatives(
            model, [q.text for q in queries], [[texts[d] for d in qrels[q.id]] for q in queries],
            corpus, query_vectors, doc_vectors, cache_dir=tmp_path_factory.mktemp("st-cache"),
            sampling_strategy="top", **settings)
    assert encodes == []
    text_to_id = {t: d for d, t in texts.items()}
    # The reference merges queries with identical text (and their positives); compare the rest.
    dup = {t for t, n in collections.Counter(q.text for q in queries).items() if n > 1}
    compared = [q for q in queries if q.text not in dup]
    assert len(compared) >= 805

    qrow = {q.id: i for i, q in enumerate(queries)}
    mismatched = []
    for q in compared:
        theirs = [text_to_id[t] for t in ref[q.text]]
        mine_ = ours[q.id]
        if theirs == mine_:
            continue
        mismatched.append(q.id)
        scores = doc_vectors @ query_vectors[qrow[q.id]]
        if set(theirs) == set(mine_):
            # Same negatives in another order: only equal scores may swap.
            for a, b in zip(mine_, theirs):
                assert abs(scores[row[a]] - scores[row[b]]) < TIE, (q.id, mine_, theirs)
            continue
        pos = min(scores[row[d]] for d in qrels[q.id])
        cuts = [pos - abs(pos) * settings["relative_margin"]]
        if settings.get("absolute_margin") is not None:
            cuts.append(pos - settings["absolute_margin"])
        cuts += [scores[row[d]] for d in (mine_[-1:] + theirs[-1:])]
        for d in set(theirs) ^ set(mine_):
            assert min(abs(scores[row[d]] - c) for c in cuts) < TIE, (q.id, d, mine_, theirs)
    # Ties are rare: a handful of queries at most.
    assert len(mismatched) <= 3, mismatched
    total_theirs = sum(len(ref[q.text]) for q in compared)
    total_ours = sum(len(ours[q.id]) for q in compared)
    assert total_ours > 0
    assert abs(total_ours - total_theirs) <= 3 * settings["num_negatives"]
