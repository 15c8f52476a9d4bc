"""A teacher that rescores each query's candidate pool before the mining rules judge it.

The retriever is cheap and chooses the pool (the ``range_max + P`` best documents,
:mod:`core.mining.miner`); a teacher is slower and better at telling a relevant
document from a merely similar one, so the margins and the max / min score rules
judge the teacher's score (``mine_hard_negatives(cross_encoder=...)`` in
sentence-transformers does the same; RocketQA's denoising is the same idea:
Qu et al. 2021, "RocketQA: An Optimized Training Approach to Dense Passage
Retrieval for Open-Domain Question Answering").

Two kinds, told apart by the folder (:func:`teacher_kind`):

* a **cross-encoder** (``sentence_transformers.CrossEncoder``, a Hugging Face
  ``...ForSequenceClassification`` with one label): it reads query and document
  together and returns one score per pair, as ``CrossEncoder.predict`` does;
* a **bi-encoder** (a sentence-transformers folder, e.g. a larger model than the
  retriever): cosine of its normalised query and document embeddings. Document
  vectors are remembered for the pass, since pools of different queries overlap.

A teacher can also be a model version id of the project (a fine-tuned bi-encoder).
Nothing is downloaded: the folder must be local. The last teacher loaded is kept
(keyed by the folder's content fingerprint), so the dialog's preview does not
reload it for every query.

One difference from ``mine_hard_negatives``: it ignores its cross-encoder unless a
margin or a max / min score is set; here a teacher always rescores, since its
scores are stored and feed the review queue (:mod:`core.mining.suspicion`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from core.errors import StudioError
from core.mining.scores import Candidate, ScoredQuery

if TYPE_CHECKING:  # pragma: no cover
    from core.project.file import Project

CROSS_ENCODER = "cross-encoder"
BI_ENCODER = "bi-encoder"
BATCH_SIZE = 32


class Teacher(Protocol):
    """Scores (query, document) pairs; a higher score means more relevant."""

    kind: str
    name: str

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """One float per document, in the order given."""
        ...


class CrossEncoderTeacher:
    """``CrossEncoder.predict`` on (query, document) pairs (its default activation: a sigmoid for one label)."""

    kind = CROSS_ENCODER

    def __init__(self, folder: Path, batch_size: int = BATCH_SIZE) -> None:
        from sentence_transformers import CrossEncoder

        self.name = str(folder)
        self.batch_size = batch_size
        try:
            self.model = CrossEncoder(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:  # every loader failure becomes one clear message
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StudioError(f"teacher {folder}: cannot be loaded as a cross-encoder "
                              f"({type(exc).__name__}: {first})") from exc

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        if not documents:
            return np.zeros(0, dtype=np.float32)
        scores = self.model.predict([(query, d) for d in documents], batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(scores, dtype=np.float32).reshape(len(documents))


class BiEncoderTeacher:
    """Cosine of a (larger) bi-encoder's unit embeddings; document vectors kept for the pass."""

    kind = BI_ENCODER

    def __init__(self, folder: Path) -> None:
        from core.retrieval.encoder import shared_encoder

        self.name = str(folder)
        self.encoder = shared_encoder(folder)
        self._vectors: dict[str, np.ndarray] = {}

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        if not documents:
            return np.zeros(0, dtype=np.float32)
        missing = list(dict.fromkeys(d for d in documents if d not in self._vectors))
        if missing:
            for text, vec in zip(missing, self.encoder.encode_documents(missing)):
                self._vectors[text] = vec
        q = self.encoder.encode_queries([query])[0]
        return np.stack([self._vectors[d] for d in documents]) @ q


def teacher_kind(folder: Path) -> str:
    """``cross-encoder`` or ``bi-encoder``, read from the folder's configuration files.

    A sentence-transformers bi-encoder has ``modules.json``; a cross-encoder is a
    Hugging Face sequence classifier (``architectures`` ending in
    ``ForSequenceClassification`` in ``config.json``) without one.
    """
    config: dict = {}
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    architectures = config.get("architectures") or []
    if any(str(a).endswith("ForSequenceClassification") for a in architectures):
        return CROSS_ENCODER
    if (folder / "modules.json").is_file():
        return BI_ENCODER
    raise StudioError(f"teacher {folder}: neither a cross-encoder (a ...ForSequenceClassification "
                      "config.json) nor a sentence-transformers bi-encoder (modules.json)")


def load_teacher(project: "Project | None", reference: str) -> Teacher:
    """The teacher named by ``reference``: a local folder or a model version id of ``project``."""
    from core.retrieval.encoder import resolve_model

    folder = Path(reference).expanduser()
    if not folder.is_dir():
        try:
            _, folder = resolve_model(project, reference)
        except StudioError as exc:
            raise StudioError(f"teacher {reference!r}: not a folder and not a model version of "
                              f"this project ({exc})") from exc
    from core.retrieval.encoder import model_fingerprint

    kind = teacher_kind(folder)
    key = (str(folder.resolve()), model_fingerprint(folder))
    with _last_lock:
        if _last.get("key") == key:
            return _last["teacher"]
    teacher: Teacher = CrossEncoderTeacher(folder) if kind == CROSS_ENCODER else BiEncoderTeacher(folder)
    with _last_lock:
        _last.update(key=key, teacher=teacher)
    return teacher


_last: dict = {}  # the last teacher loaded and its key
_last_lock = threading.Lock()


def with_teacher_scores(scored: ScoredQuery, scores: Sequence[float]) -> ScoredQuery:
    """``scored`` with ``scores[i]`` as the teacher score of its i-th candidate."""
    if len(scores) != len(scored.candidates):
        raise ValueError(f"{len(scores)} teacher scores for {len(scored.candidates)} candidates")
    return ScoredQuery(scored.query_id, tuple(
        Candidate(c.doc_id, c.rank, c.score, c.in_pool, float(s))
        for c, s in zip(scored.candidates, scores)))


def rescore(teacher: Teacher, scored: ScoredQuery, query_text: str,
            document_texts: dict[str, str]) -> ScoredQuery:
    """Every candidate of ``scored`` (pool and labeled documents) scored by ``teacher``."""
    texts = [document_texts[c.doc_id] for c in scored.candidates]
    return with_teacher_scores(scored, teacher.score(query_text, texts).tolist())
