"""Fixtures for training / compare tests: a tiny model and a project with enough training queries.

The tiny model is a 2-layer, 32-wide BERT with the bundled model's tokenizer,
so a training step takes milliseconds and a corpus encodes instantly, while
every code path (tokenizer, pooling, save/load) is the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Training queries over the 12 tiny documents (tests/conftest.py TINY_DOCS):
# enough rows for several steps at batch size 2.
EXTRA_TRAIN_QUERIES = [
    ("t1", "calcium and hip fractures", "d2"),
    ("t2", "exercise strengthens bones", "d3"),
    ("t3", "statins lower cholesterol", "d5"),
    ("t4", "blood pressure and stroke", "d6"),
    ("t5", "particulate pollution and lung cancer mortality", "d8"),
    ("t6", "caffeine and alertness", "d11"),
    ("t7", "microbiome and immunity", "d12"),
    ("t8", "radon exposure in homes", "d9"),
    ("t9", "smoking causes cancer", "d7"),
    ("t10", "vitamin D supplements for elderly women", "d1"),
]


def make_tiny_model(path: Path) -> Path:
    """Save a randomly initialised tiny sentence-transformers model (seeded) at ``path``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from core.retrieval.encoder import bundled_model_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )
    bert_dir = path.parent / (path.name + "-hf")
    BertModel(config).save_pretrained(str(bert_dir))
    tokenizer.save_pretrained(str(bert_dir))
    transformer = Transformer(str(bert_dir), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(path))
    return path


def add_training_queries(project_path: Path) -> None:
    """Add EXTRA_TRAIN_QUERIES (split train) with one imported positive each."""
    from core.project.file import Project

    with Project.open(project_path) as project:
        with project.transaction():
            project.db["queries"].insert_all(
                [{"id": q, "text": t, "split": "train"} for q, t, _ in EXTRA_TRAIN_QUERIES])
        project.set_labels([(q, d, "positive", 1) for q, _, d in EXTRA_TRAIN_QUERIES],
                           source="imported", pass_number=0)


class StallMeter:
    """Measures the UI thread's longest stall: the largest gap between 10 ms timer ticks, minus 10 ms."""

    def __init__(self, interval_ms: int = 10) -> None:
        import time

        from PySide6.QtCore import QTimer

        self._time = time.perf_counter
        self.interval = interval_ms / 1000
        self.gaps: list[float] = []
        self._last: float | None = None
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self._time()
        if self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._last = None
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def longest_stall_ms(self) -> float:
        return max(0.0, (max(self.gaps, default=0.0) - self.interval) * 1000)
