"""How good is a retriever, and is the difference real.

Owns the IR metrics (:mod:`~core.evaluation.metrics`, checked against
pytrec_eval and ranx), paired significance tests
(:mod:`~core.evaluation.stats`), evaluating one retriever on a split and
recording the run (:mod:`~core.evaluation.evaluate`) and comparing model
versions side by side (:mod:`~core.evaluation.compare`). It uses retrieval
to produce runs; nothing below it depends on it.
"""
