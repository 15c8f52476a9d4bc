"""Hard-negative mining with a reason for every candidate.

Owns the settings of a pass (:mod:`~core.mining.config`), the pure rules
that decide each candidate (:mod:`~core.mining.rules`: ``decide``, where each
rule cuts and how it explains itself), scoring candidate pools in bounded batches
(:mod:`~core.mining.scores`), running and storing a pass
(:mod:`~core.mining.miner`), the no-write preview the dialog re-runs as
settings move (:mod:`~core.mining.preview`), what the project says
about passes, proposals and their review (:mod:`~core.mining.store`), and
what the Review tab reads of it (:mod:`~core.mining.review`).
"""
