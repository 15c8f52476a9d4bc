"""The int8 fast encoder: agreement with fp32, its quality gate, where it is built, cache separation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.progress import Progress
from core.project.file import Project
from core.retrieval.encoder import bundled_model_path, model_fingerprint, shared_encoder
from core.retrieval.encoder_choice import (
    GATE_FILE,
    cosine_agreement,
    run_gate,
    select_encoder,
)
from core.retrieval.onnx_int8 import (
    MODEL_FILE,
    ensure_fast_model,
    fast_model_dir,
    user_cache_dir,
)

TEXTS = [
    "Vitamin D supplementation increases bone mineral density in elderly women.",
    "High calcium intake is associated with fewer hip fractures in older adults.",
    "Weight-bearing exercise improves bone strength and reduces fracture risk.",
    "Daily low-dose aspirin lowers the risk of a first heart attack in men.",
    "Statins reduce LDL cholesterol and cardiovascular events.",
    "Lowering blood pressure reduces stroke and heart attack incidence.",
    "Cigarette smoking is the leading cause of lung cancer.",
    "Fine particulate air pollution raises lung cancer mortality.",
    "Residential radon exposure is a cause of lung cancer among non-smokers.",
    "Sleep consolidates declarative memory in young adults.",
    "Caffeine improves alertness but may disturb sleep quality.",
    "The gut microbiome influences immune responses and metabolism.",
    "Randomised trials of hormone therapy found no reduction in coronary events.",
    "Insulin resistance precedes type 2 diabetes by several years.",
    "Measles vaccination prevents outbreaks when coverage exceeds 95 percent.",
    "Antibiotic overuse drives resistance in hospital-acquired infections.",
    "Mediterranean diets are linked to lower all-cause mortality.",
    "Obstructive sleep apnoea raises the risk of hypertension.",
    "Folic acid in early pregnancy reduces neural tube defects.",
    "Physical activity slows cognitive decline in older people.",
]


@pytest.fixture(scope="module")
def user_cache(tmp_path_factory):
    """A private per-user cache folder with the bundled model's int8 copy, built once per module."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("user-cache")
    mp.setenv("RETRIEVER_STUDIO_CACHE", str(cache))
    folder = bundled_model_path()
    ensure_fast_model(folder, fast_model_dir(folder, model_fingerprint(folder), beside_model=False))
    yield cache
    mp.undo()


def _fast_dir():
    folder = bundled_model_path()
    return fast_model_dir(folder, model_fingerprint(folder), beside_model=False)


def test_bundled_int8_copy_lives_in_the_user_cache_not_site_packages(user_cache):
    folder = bundled_model_path()
    assert user_cache_dir() == user_cache
    assert (_fast_dir() / MODEL_FILE).is_file() and _fast_dir().is_relative_to(user_cache)
    assert not any(p.suffix == ".onnx" for p in folder.rglob("*"))
    manifest = json.loads((_fast_dir() / "fast_encoder.json").read_text())
    assert manifest["per_channel"] is True and manifest["source_fingerprint"] == model_fingerprint(folder)


def test_fast_vectors_agree_with_fp32(user_cache):
    fast = shared_encoder(bundled_model_path(), fast_folder=_fast_dir())
    exact = shared_encoder(bundled_model_path(), device="cpu")
    assert fast.kind == "fast" and fast.fingerprint == exact.fingerprint
    assert fast.cache_key == exact.fingerprint + "-int8" != exact.cache_key
    a, b = exact.encode_documents(TEXTS), fast.encode_documents(TEXTS)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    mean, low = cosine_agreement(a, b)
    assert mean >= 0.99 and low >= 0.98
    assert not np.allclose(a, b, atol=1e-4)  # really a different (quantised) model


def test_cosine_agreement_by_hand():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[1.0, 0.0], [1.0, 1.0]])  # cos 1 and 1/sqrt(2)
    mean, low = cosine_agreement(a, b)
    assert low == pytest.approx(2 ** -0.5) and mean == pytest.approx((1 + 2 ** -0.5) / 2)


def _break_scales(model_path):
    """Deliberately broken quantisation: every int8 weight scale multiplied by a random factor."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_path))
    rng = np.random.default_rng(0)
    broken = 0
    for init in model.graph.initializer:
        if init.name.endswith("_scale"):
            scale = numpy_helper.to_array(init)
            factor = rng.uniform(0.3, 3.0, size=scale.shape).astype(scale.dtype)
            init.CopyFrom(numpy_helper.from_array(scale * factor, init.name))
            broken += 1
    assert broken > 0
    onnx.save(model, str(model_path))


def test_gate_refuses_a_broken_quantisation_and_keeps_fp32(user_cache, tmp_path, monkeypatch):
    import core.retrieval.onnx_int8 as onnx_int8

    broken = tmp_path / "broken"
    shutil.copytree(_fast_dir(), broken)
    (broken / GATE_FILE).unlink(missing_ok=True)
    _break_scales(broken / MODEL_FILE)
    fast = shared_encoder(bundled_model_path(), fast_folder=broken)
    exact = shared_encoder(bundled_model_path(), device="cpu")
    assert not run_gate(exact, fast, TEXTS).passed

    monkeypatch.setattr(onnx_int8, "fast_model_dir", lambda *a, **k: broken)
    selection = select_encoder(None, "bundled", bundled_model_path(), encoder="fast", sample=TEXTS)
    assert selection.kind == "exact" and selection.encoder.kind == "exact"
    assert "refused" in selection.reason and "mean cosine" in selection.reason
    assert selection.gate is not None and not selection.gate.passed


def test_gate_passes_once_and_its_verdict_is_remembered(user_cache, monkeypatch):
    import core.retrieval.encoder_choice as choice

    (_fast_dir() / GATE_FILE).unlink(missing_ok=True)
    first = select_encoder(None, "bundled", bundled_model_path(), encoder="auto", device="cpu",
                           sample=TEXTS)
    assert first.kind == "fast" and first.gate.passed and first.gate.n == len(TEXTS)
    assert (_fast_dir() / GATE_FILE).is_file()
    monkeypatch.setattr(choice, "run_gate", lambda *a, **k: pytest.fail("gate measured twice"))
    again = select_encoder(None, "bundled", bundled_model_path(), encoder="auto", device="cpu",
                           sample=TEXTS)
    assert again.kind == "fast" and again.gate == first.gate
    exact = select_encoder(None, "bundled", bundled_model_path(), encoder="exact", sample=TEXTS)
    assert exact.kind == "exact" and exact.gate is None


def test_fp32_and_int8_vectors_are_cached_apart(user_cache, tiny_project):
    from core.retrieval.embeddings import cache_folder, document_embeddings
    from core.retrieval.service import Retrieval

    with Project.open(tiny_project) as project:
        exact = Retrieval(project, encoder="exact", device="cpu")
        fast = Retrieval(project, encoder="fast")
        e_ids, e_vecs = exact.document_embeddings()
        f_ids, f_vecs = fast.document_embeddings()
        assert fast.encoder_selection.kind == "fast", fast.encoder_selection.reason
        assert e_ids == f_ids
        e_dir, f_dir = cache_folder(project, exact.encoder), cache_folder(project, fast.encoder)
        assert f_dir.name == e_dir.name + "-int8"
        assert not np.allclose(e_vecs, f_vecs, atol=1e-4)
        # Each folder returns its own kind's vectors, without encoding anything.
        for retrieval, vecs in ((exact, e_vecs), (fast, f_vecs)):
            calls = []
            enc = retrieval.encoder
            original = enc._embed
            enc._embed = lambda *a, **k: calls.append(1) or original(*a, **k)
            try:
                again = document_embeddings(project, enc, Progress())
            finally:
                del enc._embed
            assert calls == [] and np.array_equal(again, vecs)
        reference = shared_encoder(bundled_model_path(), device="cpu").encode_documents(
            [d.retrieval_text for d in project.iter_documents()])
        assert np.allclose(e_vecs, reference, atol=1e-5)


def test_automatic_keeps_fp32_when_its_vectors_of_the_corpus_are_cached(user_cache, tiny_project):
    """A project that ships or already computed fp32 vectors (the demo) is not encoded again in int8."""
    from core.retrieval.embeddings import document_embeddings

    with Project.open(tiny_project) as project:
        before = select_encoder(project, "bundled", bundled_model_path(), encoder="auto", device="cpu")
        assert before.kind == "fast", before.reason
        document_embeddings(project, shared_encoder(bundled_model_path(), device="cpu"))
        after = select_encoder(project, "bundled", bundled_model_path(), encoder="auto", device="cpu")
        assert after.kind == "exact" and "already cached" in after.reason
        # Asked for by name, the fast encoder is still used.
        assert select_encoder(project, "bundled", bundled_model_path(), encoder="fast").kind == "fast"
