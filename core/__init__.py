"""Retriever Studio core: plain Python, SQLite and numpy. Never imports Qt.

One package per capability, layered from the bottom up (``lint-imports``
checks the contract in ``pyproject.toml``):

* :mod:`core.project` — the project file, its schema, labels and queries;
* :mod:`core.retrieval` — BM25, encoders, the embedding cache, dense search;
* :mod:`core.evaluation` — metrics, significance tests, model comparison;
* :mod:`core.mining` — hard-negative mining with a reason per candidate;
* :mod:`core.training`, :mod:`core.map`, :mod:`core.io` — fine-tuning and the
  loop, the embedding map, import/export and the demo;
* :mod:`core.cli` — the headless command line, on top.

:mod:`core.progress` (the progress/cancel protocol of every long job) and
:mod:`core.errors` (user-facing errors) serve all of them.
"""

__version__ = "0.1.0"
