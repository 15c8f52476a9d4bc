"""The loop: fine-tune, re-encode the corpus with the new model, re-mine harder negatives.

After a fine-tune, the new model ranks differently, so its top results hold
new hard negatives (ANCE, Xiong et al. 2021: re-mine from the latest
checkpoint's index). :func:`remine_with_model` encodes the corpus with the
model version (cached per model fingerprint by :mod:`core.retrieval.embeddings`),
builds its dense index, and runs a new mining pass with the project's current
mining settings, only the model swapped. :func:`retrain_and_remine` chains
training and re-mining as one job with one progress bar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.progress import Progress
from core.project.file import Project
from core.training.trainer import (
    ModelVersion,
    StepCallback,
    TrainingConfig,
    build_training_examples,
    train,
)

# Share of the progress bar for training when a re-mine follows (encoding
# the corpus and mining take the rest).
_TRAIN_SHARE = 0.6


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


def remine_with_model(project: Project, model_id: str, progress: Progress | None = None,
                      mining_config=None) -> tuple[Any, int | None, float, float]:
    """Encode the corpus with ``model_id``, build its index, mine a new pass.

    Returns ``(MiningResult, pass number, encode seconds, mine seconds)``.
    """
    from core.mining.miner import mine
    from core.retrieval.service import Retrieval

    progress = progress or Progress()
    retrieval = Retrieval(project, model_id)
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
                       *, mining_config=None, remine: bool = True,
                       on_step: StepCallback | None = None) -> LoopOutcome:
    """Fine-tune, then (``remine``) re-encode and re-mine with the new model as one job."""
    progress = progress or Progress()
    share = _TRAIN_SHARE if remine else 1.0
    version = train(project, config, progress.sub(0.0, share), on_step=on_step)
    outcome = LoopOutcome(version)
    if remine:
        (outcome.mining, outcome.mining_pass, outcome.encode_seconds,
         outcome.mine_seconds) = remine_with_model(project, version.id, progress.sub(share, 1.0),
                                                   mining_config)
        outcome.mining_counts = dict(outcome.mining.counts)
    progress.fraction(1.0, f"Model version {version.id} ready")
    return outcome


# -- entry points for background jobs (each opens its own connection) -------------

def run_training_job(project_path: str | Path, config: TrainingConfig, *, remine: bool = False,
                     progress: Progress | None = None,
                     on_step: StepCallback | None = None) -> LoopOutcome:
    """:func:`retrain_and_remine` on a project file, for a worker thread or process."""
    with Project.open(project_path) as project:
        return retrain_and_remine(project, config, progress, remine=remine, on_step=on_step)


def remine_job(project_path: str | Path, model_id: str, progress: Progress | None = None) -> dict:
    """:func:`remine_with_model` on a project file; returns the pass summary as plain data."""
    with Project.open(project_path) as project:
        result, pass_number, encode_s, mine_s = remine_with_model(project, model_id, progress)
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
