"""Getting collections in and training data out.

Importers read BEIR, MS MARCO, TREC, SMART and tabular files into a project
in one transaction (:mod:`core.io.importers`); :mod:`core.io.export` writes
labels, proposals and pairs in the formats trainers read; :mod:`core.io.demo`
builds the bundled demo project. It sits above mining (exports read a
pass's proposals) and retrieval (the demo warms the embedding cache).
"""
