"""A tiny real cross-encoder and a small demo-text project for the teacher and queue tests.

No pretrained cross-encoder can be downloaded, so :func:`tiny_cross_encoder` builds
one from the bundled MiniLM weights (a ``BertForSequenceClassification`` with a
random one-label head) and trains it for a few steps on the demo's train labels:
the code path is the real ``CrossEncoder`` one, the scores are not meaningful.
"""

from __future__ import annotations

import random
from pathlib import Path

from helpers_mining import read_beir

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "scifact-sample"
MAX_LENGTH = 96  # tokens: short inputs keep the tests fast on a shared CPU
DOC_CHARS = 240  # documents cut to their first characters, for the same reason


def demo_texts() -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """``(documents, train queries, train qrels)`` of the bundled SciFact sample (documents cut)."""
    docs, queries, qrels = read_beir(DEMO, ("train.tsv",))
    texts = {d: f"{title} {text}".strip()[:DOC_CHARS] for d, title, text in docs}
    return texts, {q: queries[q] for q in qrels}, qrels


def tiny_cross_encoder(folder: Path, steps: int = 2) -> Path:
    """A CrossEncoder from the bundled MiniLM, a few BCE steps on demo train pairs, saved."""
    import torch
    from sentence_transformers import CrossEncoder

    from core.retrieval.encoder import bundled_model_path

    torch.manual_seed(0)
    docs, queries, qrels = demo_texts()
    rng = random.Random(0)
    doc_ids = sorted(docs)
    pairs = []
    for qid, positives in sorted(qrels.items()):
        pairs.append((queries[qid], docs[positives[0]], 1.0))
        pairs.append((queries[qid], docs[rng.choice(doc_ids)], 0.0))
    rng.shuffle(pairs)
    ce = CrossEncoder(str(bundled_model_path()), num_labels=1, max_length=MAX_LENGTH, device="cpu",
                      local_files_only=True)
    model, tokenizer = ce.model, ce.tokenizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for step in range(steps):
        batch = pairs[step * 8 : step * 8 + 8]
        enc = tokenizer([q for q, _, _ in batch], [d for _, d, _ in batch], padding=True,
                        truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        loss = loss_fn(model(**enc).logits.view(-1), torch.tensor([y for _, _, y in batch]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    ce.save(str(folder))
    return folder
