"""Hard-negative mining with a reason for every candidate.

Owns the settings of a pass (:mod:`~core.mining.config`), the pure rules
that decide each candidate (:mod:`~core.mining.rules`: ``decide``, where each
rule cuts and how it explains itself), the same rules over a block of pools at once, as
the miner runs them (:mod:`~core.mining.decisions`), scoring candidate pools in bounded batches
(:mod:`~core.mining.scores`; exact dense pools through a certified int8 product,
:mod:`~core.mining.dense_pool`), a teacher that rescores each pool before the
rules judge it (:mod:`~core.mining.teacher`), the second opinions a pass gets per
candidate when first reviewed (:mod:`~core.mining.signals`), running and storing a pass
(:mod:`~core.mining.miner`), the no-write preview the dialog re-runs as
settings move (:mod:`~core.mining.preview`), what the project says
about passes, proposals and their review (:mod:`~core.mining.store`), how
likely a proposal is a false negative (:mod:`~core.mining.suspicion`), the
review queue across queries (:mod:`~core.mining.queue`), and what the Review
tab reads of it all (:mod:`~core.mining.review`).
"""
