"""Fine-tune a bi-encoder on the project's labels and register it as a model version.

Training data are (anchor, positive, negative_1..n) rows: the query text, one
relevant document (``positive`` or ``false_negative``) and hard negatives —
the query's confirmed ``negative`` labels and, with ``use_proposed``, the
negatives the latest mining pass proposed that nobody has reviewed yet. A
document judged relevant for a query is never used as that query's negative.

The loss is sentence-transformers' MultipleNegativesRankingLoss (InfoNCE with
in-batch negatives, van den Oord et al. 2018; Henderson et al. 2017, "Efficient
Natural Language Response Suggestion for Smart Reply"):
``L = -log exp(s(q,d+)/τ) / Σ_j exp(s(q,d_j)/τ)`` over the row's positive, its
hard negatives and every other document in the batch, τ = 1/20 on cosine
similarity; or its GradCache variant (Gao et al. 2021) for large batches in
constant memory; or GISTEmbedLoss (Solatorio 2024, "GISTEmbed: Guided In-sample
Selection of Training Negatives"), where a frozen guide model scores every
in-batch and hard negative and masks those it scores above the row's
positive — the false negatives that labeling and mining left behind do not
push the model away from relevant documents. ``BatchSamplers.NO_DUPLICATES`` keeps a text from appearing
twice in one batch, where a repeated positive would act as a false negative.

Held-out evaluation stays honest: queries of ``heldout_split`` never train,
training on that split is refused, and a training query whose text equals a
held-out query's text is left out (SciFact has two such pairs).

A run writes into a hidden temporary folder under ``data_dir/models`` and is
renamed into place and registered in ``model_versions`` only once the folder
is complete (weights, tokenizer, model card); cancelling or failing removes
the temporary folder and leaves the project as it was. The folder names its
owner process, so the next run sweeps folders left by a killed one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from core.errors import StudioError
from core.progress import Cancelled, Progress
from core.project.file import Project, now_iso, retrieval_text
from core.project.leftovers import is_leftover, process_alive, temp_name
from core.project.schema import RELEVANT_LABELS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LOSSES = ("mnrl", "cached_mnrl", "gist")
PRECISIONS = ("auto", "fp32", "bf16")
LOSS_NAMES = {"mnrl": "MultipleNegativesRankingLoss",
              "cached_mnrl": "CachedMultipleNegativesRankingLoss",
              "gist": "GISTEmbedLoss"}
GUIDE_BASE = "base"  # the guide of ``gist``: a frozen copy of the base model
MODELS_DIR = "models"
_TMP_PREFIX = ".training-"
_OWNER = "owner.json"

StepCallback = Callable[[dict], None]


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of one fine-tuning run (defaults measured on SciFact, see benchmarks/README.md).

    ``base`` is ``"bundled"``, a model version id or a model folder.
    ``split`` selects the training queries (``None``: every query outside
    ``heldout_split``). ``max_seq_length`` truncates training texts only; the
    saved model keeps the base model's encoding length. ``num_negatives`` hard
    negatives go in each row (a query with fewer repeats its own; a query with
    none trains on in-batch negatives only). ``mini_batch_size`` is the
    GradCache chunk of ``cached_mnrl``. ``guide`` is the guide model of
    ``gist``: ``"base"`` (a frozen copy of the base model), a model version
    id or a model folder; GISTEmbedLoss takes at most one hard negative per row.
    """

    base: str = "bundled"
    # Measured on SciFact (809 training queries, benchmarks/README.md): at
    # lr 5e-5, 2 epochs with texts cut at 128 tokens reached test nDCG@10
    # 0.717; 1 epoch at 128 tokens 0.685, 1 epoch at 256 tokens 0.694 for the
    # same compute as 2 epochs at 128. Cutting at 128 also halves the memory
    # (3.7 vs 7.8 GB RSS at batch 32); the saved model still encodes 256.
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-5
    warmup_ratio: float = 0.1
    max_seq_length: int = 128
    split: str | None = "train"
    heldout_split: str = "test"
    use_proposed: bool = False
    num_negatives: int = 1
    loss: str = "mnrl"
    mini_batch_size: int = 16
    guide: str = GUIDE_BASE
    seed: int = 42
    name: str | None = None
    # "fp32" (default) or "auto": bf16 mixed precision where the hardware
    # computes bf16 natively (CPUs with AVX-512 BF16 or AMX, CUDA GPUs with
    # bf16), else fp32; "bf16" forces it. Measured on SciFact, 2 cores with
    # AVX-512 BF16 (benchmarks/README.md): bf16 trained 2.2x faster (120 s
    # against 268 s) but reached dense nDCG@10 0.7148 against fp32's 0.7184,
    # so exact arithmetic stays the default and bf16 is the user's trade.
    precision: str = "fp32"

    def validate(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be at least 1 (got {self.epochs})")
        if self.batch_size < 2:
            problems.append(f"batch size must be at least 2 for in-batch negatives (got {self.batch_size})")
        if not 0 < self.lr < 1:
            problems.append(f"learning rate must be in (0, 1) (got {self.lr})")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warm-up ratio must be in [0, 1) (got {self.warmup_ratio})")
        if self.max_seq_length < 8:
            problems.append(f"max sequence length must be at least 8 (got {self.max_seq_length})")
        if self.num_negatives < 0:
            problems.append(f"number of negatives cannot be negative (got {self.num_negatives})")
        if self.loss not in LOSSES:
            problems.append(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if self.loss == "gist" and self.num_negatives > 1:
            problems.append(f"the gist loss takes at most 1 hard negative per example "
                            f"(got {self.num_negatives}); use --negatives 1")
        if self.precision not in PRECISIONS:
            problems.append(f"unknown precision {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        if self.mini_batch_size < 1:
            problems.append(f"mini-batch size must be at least 1 (got {self.mini_batch_size})")
        if problems:
            raise StudioError("invalid training settings: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingConfig":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrainingData:
    """Rows for the trainer plus the counts recorded with the model version.

    ``rows`` have ``anchor``, ``positive`` and ``negative_1..negative_n``;
    ``pair_rows`` are (anchor, positive) rows of queries without negatives.
    """

    rows: list[dict]
    pair_rows: list[dict]
    counts: dict


@dataclass(frozen=True)
class ModelVersion:
    id: str
    name: str
    path: Path
    base: str
    created_at: str
    config: dict
    train_counts: dict
    metrics: dict
    loss_history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0


# -- training data ---------------------------------------------------------------

def _norm_text(text: str) -> str:
    return " ".join(text.lower().split())


def _training_queries(project: Project, config: TrainingConfig):
    """Training queries after the held-out rules; returns (queries, excluded duplicate ids)."""
    if config.split is not None and config.split == config.heldout_split:
        raise StudioError(
            f"refusing to train on split {config.split!r}: it is the held-out evaluation split; "
            "choose another training split or another held-out split"
        )
    if config.split is None:
        queries = [q for q in project.queries() if q.split != config.heldout_split]
    else:
        queries = project.queries(config.split)
    leaked = [q.id for q in queries if q.split == config.heldout_split]
    if leaked:  # only reachable through a caller-made selection; kept as the last guard
        raise StudioError(
            f"refusing to train: {len(leaked)} training queries are in the held-out split "
            f"{config.heldout_split!r} ({', '.join(leaked[:5])})"
        )
    heldout_texts = {_norm_text(q.text) for q in project.queries(config.heldout_split)}
    kept, duplicates = [], []
    for q in queries:
        (duplicates if _norm_text(q.text) in heldout_texts else kept).append(q)
    return kept, [q.id for q in duplicates]


def _proposed_negatives(project: Project, query_ids: set[str]) -> dict[str, list[str]]:
    """Pending (unreviewed) proposals of the latest mining pass, best-ranked first."""
    from core.mining.store import proposed_negatives

    return {qid: [d for d, _score in docs]
            for qid, docs in proposed_negatives(project).items() if qid in query_ids}


def build_training_examples(project: Project, config: TrainingConfig) -> TrainingData:
    """(anchor, positive, negative_1..n) rows from the labels of the training queries.

    One row per (query, relevant document). Negatives per query, in order:
    confirmed ``negative`` labels, then (``use_proposed``) the pending
    proposals of the latest mining pass (:func:`core.mining.store.proposed_negatives`). Documents labeled relevant for the
    query are never negatives. Row ``i`` of a query takes negatives ``i*n ..
    i*n+n-1`` (cycling), so a query's positives see different negatives.
    Raises :class:`StudioError` for the held-out split or when nothing can train.
    """
    config.validate()
    queries, duplicates = _training_queries(project, config)
    qids = {q.id for q in queries}
    proposed = _proposed_negatives(project, qids) if config.use_proposed else {}

    plan = []  # (query, positives, negatives, n_confirmed, n_proposed)
    n_no_positive = 0
    for q in queries:
        labels = project.labels_for_query(q.id)
        positives = [d for d, lab in labels.items() if lab.label in RELEVANT_LABELS]
        if not positives:
            n_no_positive += 1
            continue
        confirmed = [d for d, lab in labels.items() if lab.label == "negative"]
        extra = [d for d in proposed.get(q.id, []) if d not in labels]
        plan.append((q, sorted(positives), confirmed + extra, len(confirmed), len(extra)))

    doc_ids = {d for _, pos, neg, _, _ in plan for d in pos + neg}
    docs = project.get_documents(sorted(doc_ids))
    text = {d: retrieval_text(doc.title, doc.text) for d, doc in docs.items()}

    n = config.num_negatives
    rows, pair_rows = [], []
    counts = {"queries": 0, "rows": 0, "positives": 0, "confirmed_negatives": 0,
              "proposed_negatives": 0, "queries_without_negatives": 0,
              "queries_without_positives": n_no_positive,
              "excluded_heldout_duplicates": len(duplicates)}
    for q, positives, negatives, n_conf, n_prop in plan:
        counts["queries"] += 1
        counts["positives"] += len(positives)
        counts["confirmed_negatives"] += n_conf
        counts["proposed_negatives"] += n_prop
        if not negatives or n == 0:
            counts["queries_without_negatives"] += int(not negatives)
            pair_rows.extend({"anchor": q.text, "positive": text[p]} for p in positives)
            continue
        for i, p in enumerate(positives):
            row = {"anchor": q.text, "positive": text[p]}
            for j in range(n):
                row[f"negative_{j + 1}"] = text[negatives[(i * n + j) % len(negatives)]]
            rows.append(row)
    counts["rows"] = len(rows) + len(pair_rows)
    counts["num_negatives"] = n
    if not counts["rows"]:
        where = f"split {config.split!r}" if config.split is not None else "the non-held-out queries"
        raise StudioError(
            f"nothing to train on: {where} has {len(queries)} queries and none has a positive "
            "(or false-negative) label"
        )
    return TrainingData(rows, pair_rows, counts)


# -- the run ---------------------------------------------------------------------

def models_dir(project: Project) -> Path:
    d = project.data_dir / MODELS_DIR
    d.mkdir(exist_ok=True)
    return d


def _make_callback(progress: Progress, history: list[dict], on_step: StepCallback | None,
                   span: tuple[float, float]):
    from transformers import TrainerCallback

    start, end = span
    clock = {"t0": time.monotonic()}

    class _ProgressCallback(TrainerCallback):
        """Reports each logged step and stops the trainer once cancel was requested."""

        cancelled = False

        def _stop_if_cancelled(self, control):
            if progress.cancelled:
                self.cancelled = True
                control.should_training_stop = True
                control.should_epoch_stop = True
            return control

        def on_train_begin(self, args, state, control, **kwargs):
            clock["t0"] = time.monotonic()
            return self._stop_if_cancelled(control)

        def on_step_begin(self, args, state, control, **kwargs):
            return self._stop_if_cancelled(control)

        def on_step_end(self, args, state, control, **kwargs):
            return self._stop_if_cancelled(control)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return self._stop_if_cancelled(control)
            step, total = state.global_step, max(state.max_steps, 1)
            elapsed = time.monotonic() - clock["t0"]
            remaining = elapsed / step * (total - step) if step else None
            entry = {"step": step, "total_steps": total, "epoch": float(state.epoch or 0.0),
                     "loss": float(logs["loss"]), "lr": float(logs.get("learning_rate", 0.0)),
                     "elapsed_s": round(elapsed, 3),
                     "remaining_s": None if remaining is None else round(remaining, 3)}
            history.append(entry)
            if on_step is not None:
                on_step(entry)
            message = (f"Training step {step}/{total} · epoch {entry['epoch']:.2f} · "
                       f"loss {entry['loss']:.4f}")
            try:
                progress.fraction(start + (end - start) * step / total, message)
            except Cancelled:
                self.cancelled = True
                control.should_training_stop = True
                control.should_epoch_stop = True
            return control

    return _ProgressCallback()


def _next_version_id(project: Project, models: Path) -> str:
    taken = {r[0] for r in project.conn.execute("SELECT id FROM model_versions")}
    numbers = [int(m.group(1)) for t in taken if (m := re.fullmatch(r"v(\d+)", t))]
    n = max(numbers, default=0) + 1
    while f"v{n}" in taken or (models / f"v{n}").exists():
        n += 1
    return f"v{n}"


def _model_card(version_id: str, name: str, base_id: str, base_folder: Path, config: TrainingConfig,
                counts: dict, history: list[dict], seconds: float, created_at: str,
                encode_length: int | None) -> str:
    losses = [h["loss"] for h in history]
    settings = "\n".join(f"| {k} | {v} |" for k, v in config.to_dict().items())
    data = "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    loss_line = (f"{losses[0]:.4f} (step 1) → {losses[-1]:.4f} (step {history[-1]['step']})"
                 if losses else "not logged")
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
tags: [sentence-transformers, retriever-studio, fine-tuned]
---

# {name}

Model version `{version_id}` of a Retriever Studio project, fine-tuned on {created_at}
from `{base_id}` (folder `{base_folder}`).

Load it with `SentenceTransformer("<this folder>")`; embeddings are compared
with cosine similarity. Texts are encoded up to {encode_length} tokens.

## Training

- Loss: {_loss_line(config)}, batch sampler NO_DUPLICATES, seed {config.seed}.
- Training queries: split {config.split!r}; the held-out split {config.heldout_split!r}
  was never used for training.
- Training time: {seconds:.1f} s; loss {loss_line}.

| setting | value |
| --- | --- |
{settings}

## Training data

| count | value |
| --- | --- |
{data}
"""


def _loss_line(config: TrainingConfig) -> str:
    if config.loss == "gist":
        return (f"GISTEmbedLoss (in-batch + hard negatives, temperature 0.01; guide `{config.guide}` "
                "masks negatives it scores above the positive)")
    return f"{LOSS_NAMES[config.loss]} (in-batch + hard negatives, scale 20)"


def make_loss(config: TrainingConfig, model, guide=None):
    """The sentence-transformers loss object of ``config.loss`` for ``model``.

    ``guide`` (a loaded, frozen SentenceTransformer) is required for ``gist``.
    """
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        GISTEmbedLoss,
        MultipleNegativesRankingLoss,
    )

    if config.loss == "cached_mnrl":
        return CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
    if config.loss == "gist":
        if guide is None:
            raise ValueError("the gist loss needs a guide model")
        return GISTEmbedLoss(model, guide)
    return MultipleNegativesRankingLoss(model)


def guide_folder(project: Project, config: TrainingConfig, base_folder: Path) -> Path:
    """The folder of ``gist``'s guide: the base model's, a version's or a named folder (ModelError if none)."""
    from core.retrieval.encoder import resolve_model

    return base_folder if config.guide == GUIDE_BASE else resolve_model(project, config.guide)[1]


def native_bf16(device: str) -> bool:
    """Whether ``device`` computes bf16 in hardware (where mixed precision pays off).

    Without it (older CPUs) bf16 is emulated and slower than fp32.
    """
    import torch

    try:
        if device == "cuda":
            return bool(torch.cuda.is_bf16_supported())
        if device == "cpu":
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes: stay exact
        return False
    return False


TRAINING_NOTE = "training"  # progress note: {"device", "precision"} of a fine-tune


def training_label(info: Mapping) -> str:
    """A status-line text for a :data:`TRAINING_NOTE`: ``"CPU · bf16 training"``."""
    from core.retrieval.device import device_label

    return f"{device_label(info.get('device'))} · {info.get('precision') or 'fp32'} training"


def resolve_precision(precision: str, device: str) -> str:
    """``"bf16"`` or ``"fp32"`` for a :attr:`TrainingConfig.precision` on ``device``."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def load_guide(folder: Path, config: TrainingConfig, device: str):
    """The frozen guide model of ``gist``, loaded from ``folder``.

    Its texts are cut at the training length too, so the guide reads what the
    model reads (GISTEmbedLoss re-tokenises when the guide's length is shorter).
    """
    from core.retrieval.encoder import load_sentence_transformer

    guide = load_sentence_transformer(folder, device=device)
    guide.max_seq_length = config.max_seq_length
    guide.eval()
    for parameter in guide.parameters():
        parameter.requires_grad_(False)
    return guide


def train(
    project: Project,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
    *,
    on_step: StepCallback | None = None,
    on_loss: Callable[[object], None] | None = None,
) -> ModelVersion:
    """Fine-tune ``config.base`` on the project's labels; register and return the new version.

    ``progress`` gets one update per training step (message with the loss);
    cancelling stops at the next step, removes the temporary folder and raises
    :class:`Cancelled` with the project unchanged. ``on_step`` (optional)
    receives each step's log entry (step, total_steps, epoch, loss, lr,
    elapsed_s, remaining_s) from the training thread. ``on_loss`` (optional)
    receives the loss object before training starts (tests inspect it).
    """
    from core.retrieval.encoder import load_sentence_transformer, resolve_model

    config = config or TrainingConfig()
    progress = progress or Progress()
    project.require_writable()  # refuse now, not after minutes of training
    progress.fraction(0.0, "Collecting training examples")
    data = build_training_examples(project, config)
    base_id, base_folder = resolve_model(project, config.base)
    guide_path = guide_folder(project, config, base_folder) if config.loss == "gist" else None

    models = models_dir(project)
    _sweep_abandoned(models)
    scratch = models / temp_name(_TMP_PREFIX)
    tmp = scratch / "model"  # renamed to models/<id> when complete
    work = scratch / "trainer"
    history: list[dict] = []
    t0 = time.monotonic()
    try:
        scratch.mkdir()
        (scratch / _OWNER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        tmp.mkdir()
        progress.busy(f"Loading base model {base_id}")
        import torch
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.sentence_transformer.training_args import (
            BatchSamplers,
        )
        from transformers import PrinterCallback, set_seed
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # bars on stderr would drown the CLI's own progress
        set_seed(config.seed)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        precision = resolve_precision(config.precision, device)
        progress.note(TRAINING_NOTE, {"device": device, "precision": precision})  # the status bar says it
        model = load_sentence_transformer(base_folder, device=device)
        encode_length = model.max_seq_length
        model.max_seq_length = config.max_seq_length
        progress.fraction(0.04, "Preparing the trainer")

        datasets = {}
        if data.rows:
            datasets["hard_negatives"] = Dataset.from_list(data.rows)
        if data.pair_rows:
            datasets["pairs"] = Dataset.from_list(data.pair_rows)
        train_dataset = next(iter(datasets.values())) if len(datasets) == 1 else datasets
        guide = None
        if guide_path is not None:
            progress.fraction(0.045, f"Loading guide model {config.guide}")
            guide = load_guide(guide_path, config, device)
        loss = make_loss(config, model, guide)
        if on_loss is not None:
            on_loss(loss)
        args = SentenceTransformerTrainingArguments(
            output_dir=str(work),
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr,
            warmup_ratio=config.warmup_ratio,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            seed=config.seed,
            data_seed=config.seed,
            logging_steps=1,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            push_to_hub=False,
            disable_tqdm=True,
            dataloader_num_workers=0,
            use_cpu=device == "cpu",
            bf16=precision == "bf16",
        )
        callback = _make_callback(progress, history, on_step, (0.05, 0.93))

        class _Trainer(SentenceTransformerTrainer):
            # The automatic model card scans the data set for widget examples
            # (seconds on a large set, with a terminal progress bar); we write
            # our own card.
            def add_model_card_callback(self, default_args_dict):
                pass

        trainer = _Trainer(
            model=model, args=args, train_dataset=train_dataset, loss=loss, callbacks=[callback])
        # With tqdm off, transformers prints every log dict to stdout, which
        # would corrupt the CLI's --json output; our callback reports instead.
        trainer.remove_callback(PrinterCallback)
        progress.fraction(0.05, "Training step 0")
        trainer.train()
        if callback.cancelled:
            raise Cancelled()
        seconds = time.monotonic() - t0

        progress.fraction(0.94, "Saving the model")
        model.max_seq_length = encode_length
        model.save(str(tmp), create_model_card=False)
        created_at = now_iso()
        name_hint = config.name
        summary = {"seconds": round(seconds, 2), "steps": history[-1]["step"] if history else 0,
                   "loss_first": history[0]["loss"] if history else None,
                   "loss_last": history[-1]["loss"] if history else None,
                   "loss_history": [[h["step"], round(h["loss"], 5)] for h in history]}
        stored_config = {**config.to_dict(), "base_id": base_id, "encode_max_seq_length": encode_length,
                         "device": device, "precision_used": precision}
        (tmp / "training.json").write_text(json.dumps(
            {"config": stored_config, "train_counts": data.counts, "training": summary,
             "loss_history": history}, indent=2), encoding="utf-8")
        progress.fraction(0.97, "Registering the model version")
        return _register(project, models, tmp, base_id, base_folder, config, stored_config,
                         data.counts, summary, history, seconds, created_at, name_hint,
                         encode_length)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sweep_abandoned(models: Path) -> None:
    """Remove temporary folders of runs whose process is gone (killed, crashed).

    The owner file names host and process; a folder killed before its owner
    file was written (empty) is judged by the process id in its name.
    """
    host = socket.gethostname()
    for folder in models.glob(f"{_TMP_PREFIX}*"):
        try:
            owner = json.loads((folder / _OWNER).read_text())
        except (OSError, ValueError):
            owner = None
        if owner is None:
            if not is_leftover(folder, _TMP_PREFIX):
                continue  # a run that has not written its owner file yet
        elif owner.get("host") == host and process_alive(int(owner.get("pid", 0))):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _register(project, models, tmp, base_id, base_folder, config, stored_config, counts,
              summary, history, seconds, created_at, name_hint, encode_length) -> ModelVersion:
    """Rename the finished folder into place and insert its row, as one step."""
    from core.retrieval.encoder import check_model_folder

    check_model_folder(tmp)
    with project.transaction():  # BEGIN IMMEDIATE: id choice and rename cannot race
        version_id = _next_version_id(project, models)
        name = name_hint or version_id
        (tmp / "README.md").write_text(
            _model_card(version_id, name, base_id, base_folder, config, counts, history,
                        seconds, created_at, encode_length), encoding="utf-8")
        final = models / version_id
        os.replace(tmp, final)
        try:
            metrics = {"training": summary}
            project.db["model_versions"].insert({
                "id": version_id, "name": name,
                "path": final.relative_to(project.data_dir).as_posix(),
                "base": base_id, "created_at": created_at,
                "config": json.dumps(stored_config), "train_counts": json.dumps(counts),
                "metrics": json.dumps(metrics),
            })
        except BaseException:
            os.replace(final, tmp)  # the caller's cleanup removes it
            raise
    return ModelVersion(version_id, name, final, base_id, created_at, stored_config, counts,
                        metrics, history, seconds)


def get_model_version(project: Project, version_id: str) -> ModelVersion | None:
    """The registered version ``version_id`` (by id or name), or None."""
    for row in project.model_versions():
        if version_id in (row["id"], row["name"]):
            training = row["metrics"].get("training", {})
            return ModelVersion(row["id"], row["name"], project.data_dir / row["path"], row["base"] or "",
                                row["created_at"], row["config"], row["train_counts"], row["metrics"],
                                [], float(training.get("seconds", 0.0)))
    return None


def with_overrides(config: TrainingConfig, **overrides) -> TrainingConfig:
    """``config`` with the non-None ``overrides`` applied (CLI flags, GUI fields)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
