"""Search over one project: BM25, dense and hybrid.

Owns tokenising and the BM25 index (:mod:`~core.retrieval.tokenize`,
:mod:`~core.retrieval.bm25`), loading sentence-transformers models and
encoding (:mod:`~core.retrieval.encoder`), the on-disk embedding cache
(:mod:`~core.retrieval.embeddings`), the dense index
(:mod:`~core.retrieval.dense_index`), rank fusion
(:mod:`~core.retrieval.fusion`) and the thread-safe
:class:`~core.retrieval.service.Retrieval` service that ties them together.
It reads the project and knows nothing of mining, training or maps.
"""
