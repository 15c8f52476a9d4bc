"""The loop: fine-tune, re-encode the corpus with the new model, re-mine harder negatives.

After a fine-tune, the new model ranks differently, so its top results hold
new hard negatives (ANCE, Xiong et al. 2021: re-mine from the latest
checkpoint's index). :func:`remine_with_model` encodes the corpus with the
model version (cached per model fingerprint by :mod:`core.retrieval.embeddings`),
builds its dense index, and runs a new mining pass with the project's current
mining settings, only the model swapped. :func:`retrain_and_remine` chains
training and re-mining as one job with one progress bar.

Pipelining: when a fine-tune finishes without a re-mine, the same job goes
on to :func:`prepare_embeddings` for the new version (corpus and query
vectors into the embedding cache, with the encoder the caller chose, the
fast int8 one where allowed), so Compare and Re-mine find them ready. The
version is registered before that step starts: cancelling it keeps the
model and whatever chunks were already encoded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.progress import Cancelled, Progress
from core.project.file import Project
from core.training.trainer import (
    ModelVersion,
    StepCallback,
    TrainingConfig,
    build_training_examples,
    train,
)

# Share of the progress bar for training when a re-mine follows (encoding
# the corpus and mining take the rest), or when only the new version's
# embeddings are prepared.
_TRAIN_SHARE = 0.6
_TRAIN_SHARE_PREPARE = 0.8
# The progress note (core.progress.Progress.note) naming the version a fine-tune just registered.
VERSION_NOTE = "version"


@dataclass
class LoopOutcome:
    """What one fine-tune (and optional re-mine) produced.

    ``mining`` is the in-process ``core.mining.miner.MiningResult`` (None when the
    run happened in a child process, where only its pass and counts come back).
    """

    version: ModelVersion
    mining_pass: int | None = None
    mining_counts: dict | None = None
    encode_seconds: float = 0.0
    mine_seconds: float = 0.0
    mining: Any | None = None
    embeddings: dict | None = None  # prepare_embeddings' summary, when the job prepared them

    @property
    def remined(self) -> bool:
        return self.mining_pass is not None or self.mining is not None

    def remine_summary(self) -> dict | None:
        if not self.remined:
            return None
        return {"pass": self.mining_pass, "model": self.version.id,
                "encode_seconds": round(self.encode_seconds, 2),
                "mine_seconds": round(self.mine_seconds, 2), "counts": self.mining_counts}

    def remine_text(self) -> str:
        counts = self.mining_counts or {}
        kept = counts.get("proposed")
        what = f"{kept} negatives proposed" if kept is not None else "new proposals stored"
        return f"{what} (encoding {self.encode_seconds:.0f} s, mining {self.mine_seconds:.0f} s)"


def current_mining_config(project: Project, model_id: str):
    """The latest pass's mining settings (defaults before any pass) with the model swapped.

    A BM25-sourced configuration stays BM25: the user chose lexical mining,
    and the new model does not change it.
    """
    from core.mining.config import MiningConfig
    from core.mining.store import current_config

    config = current_config(project) or MiningConfig()
    return config.replace(model_id=model_id)


def prepare_embeddings(project: Project, model_id: str, progress: Progress | None = None, *,
                       device: str | None = "auto", encoder: str | None = "exact",
                       choose_fusion: bool = True) -> dict:
    """Encode the corpus and every query with ``model_id`` into the embedding cache.

    What Compare and Re-mine with the same ``device`` / ``encoder`` then load
    instead of encoding; texts already cached are not encoded again. With
    ``choose_fusion``, a model without a fusion chosen on the train split gets
    one now (:func:`core.evaluation.fusion_choice.tune_fusion`, train queries
    only), so its hybrid search and hybrid mining use it before any compare.
    Returns ``{"model", "ready", "documents", "queries", "encoder", "fusion",
    "seconds"}`` (``fusion``: the setting's description, or why there is none).
    """
    from core.retrieval.service import Retrieval

    progress = progress or Progress()
    t0 = time.monotonic()
    retrieval = Retrieval(project, model_id, device=device, encoder=encoder)
    retrieval.ensure_dense(progress.sub(0.0, 0.85))
    texts = [q.text for q in project.queries()]
    if texts:
        retrieval.encode_queries(texts, progress.sub(0.85, 0.9), disk_cache=True)
    fusion = _choose_fusion(project, retrieval, progress.sub(0.9, 1.0)) if choose_fusion else None
    progress.fraction(1.0, f"Embeddings of {model_id} ready")
    return {"model": model_id, "ready": True, "documents": project.document_count(),
            "queries": len(texts), "encoder": retrieval.encoder_selection.to_dict(),
            "fusion": fusion, "seconds": round(time.monotonic() - t0, 2)}


def _choose_fusion(project: Project, retrieval, progress: Progress) -> str:
    """The model's hybrid fusion, chosen on the train split unless it already was; its description."""
    from core.errors import StudioError
    from core.evaluation.fusion_choice import FUSION_SPLIT, fusion_chosen_on

    try:
        setting = fusion_chosen_on(project, retrieval, FUSION_SPLIT, progress)
    except StudioError as exc:
        return f"not chosen: {exc}"
    retrieval.use_fusion(setting)
    return setting.describe()


def remine_with_model(project: Project, model_id: str, progress: Progress | None = None,
                      mining_config=None, *, device: str | None = "auto",
                      encoder: str | None = "exact") -> tuple[Any, int | None, float, float]:
    """Encode the corpus with ``model_id``, build its index, mine a new pass.

    Returns ``(MiningResult, pass number, encode seconds, mine seconds)``.
    """
    from core.mining.miner import mine
    from core.retrieval.service import Retrieval

    progress = progress or Progress()
    retrieval = Retrieval(project, model_id, device=device, encoder=encoder)
    t0 = time.monotonic()
    retrieval.ensure_bm25(progress.sub(0.0, 0.05))
    retrieval.ensure_dense(progress.sub(0.05, 0.7))
    encode_seconds = time.monotonic() - t0
    config = mining_config or current_mining_config(project, model_id)
    t1 = time.monotonic()
    result = mine(project, config, progress.sub(0.7, 1.0), retrieval)
    mine_seconds = time.monotonic() - t1
    return result, result.pass_number, encode_seconds, mine_seconds


def retrain_and_remine(project: Project, config: TrainingConfig, progress: Progress | None = None,
                       *, mining_config=None, remine: bool = True, prepare: bool = True,
                       device: str | None = "auto", encoder: str | None = "exact",
                       on_step: StepCallback | None = None, lower_priority: bool = False) -> LoopOutcome:
    """Fine-tune, then (``remine``) re-encode and re-mine with the new model as one job.

    Without a re-mine and with ``prepare``, the new version's embeddings are
    prepared instead (:func:`prepare_embeddings`); cancelling that step
    keeps the trained version and returns with ``embeddings["ready"]`` False.
    Once the version is registered it is noted on ``progress`` as
    :data:`VERSION_NOTE`. ``device`` / ``encoder`` are the encoder choice the later Compare and
    Re-mine will use, so they find the vectors cached. ``lower_priority``
    (for a worker process of its own) lowers the process's CPU priority for
    that step: it is a head start, and must not take the CPU from the UI.
    """
    progress = progress or Progress()
    share = _TRAIN_SHARE if remine else (_TRAIN_SHARE_PREPARE if prepare else 1.0)
    version = train(project, config, progress.sub(0.0, share), on_step=on_step)
    # Registered now: whoever follows the job may offer the version while the next step runs.
    progress.note(VERSION_NOTE, version.id)
    outcome = LoopOutcome(version)
    if remine:
        (outcome.mining, outcome.mining_pass, outcome.encode_seconds,
         outcome.mine_seconds) = remine_with_model(project, version.id, progress.sub(share, 1.0),
                                                   mining_config, device=device, encoder=encoder)
        outcome.mining_counts = dict(outcome.mining.counts)
    elif prepare:
        if lower_priority and hasattr(os, "nice"):
            os.nice(10)
        try:
            outcome.embeddings = prepare_embeddings(project, version.id, progress.sub(share, 1.0),
                                                    device=device, encoder=encoder)
        except Cancelled:  # the version is registered; only the head start is lost
            outcome.embeddings = {"model": version.id, "ready": False, "cancelled": True}
            return outcome
        outcome.encode_seconds = outcome.embeddings["seconds"]
    progress.fraction(1.0, f"Model version {version.id} ready")
    return outcome


# -- entry points for background jobs (each opens its own connection) -------------

def run_training_job(project_path: str | Path, config: TrainingConfig, *, remine: bool = False,
                     prepare: bool = True, device: str | None = "auto", encoder: str | None = "exact",
                     progress: Progress | None = None, on_step: StepCallback | None = None,
                     lower_priority: bool = False) -> LoopOutcome:
    """:func:`retrain_and_remine` on a project file, for a worker thread or process."""
    with Project.open(project_path) as project:
        return retrain_and_remine(project, config, progress, remine=remine, prepare=prepare,
                                  device=device, encoder=encoder, on_step=on_step,
                                  lower_priority=lower_priority)


def remine_job(project_path: str | Path, model_id: str, progress: Progress | None = None, *,
               device: str | None = "auto", encoder: str | None = "exact") -> dict:
    """:func:`remine_with_model` on a project file; returns the pass summary as plain data."""
    with Project.open(project_path) as project:
        result, pass_number, encode_s, mine_s = remine_with_model(project, model_id, progress,
                                                                  device=device, encoder=encoder)
    return {"pass": pass_number, "model": model_id, "encode_seconds": round(encode_s, 2),
            "mine_seconds": round(mine_s, 2), "counts": dict(result.counts)}


def training_preview(project_path: str | Path, config: TrainingConfig,
                     progress: Progress | None = None) -> dict:
    """Training-data counts for ``config`` plus ``steps_per_epoch`` and, when proposals are
    not used, ``proposals_available`` (StudioError if it cannot train)."""
    with Project.open(project_path) as project:
        data = build_training_examples(project, config)
        counts = dict(data.counts)
        if not config.use_proposed:
            # What ticking "use proposed" would add: shown as a hint.
            counts["proposals_available"] = build_training_examples(
                project, replace(config, use_proposed=True)).counts["proposed_negatives"]
    steps = 0
    for rows in (data.rows, data.pair_rows):
        if rows:
            steps += -(-len(rows) // config.batch_size)
    counts["steps_per_epoch"] = steps
    return counts
