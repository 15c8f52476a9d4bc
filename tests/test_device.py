"""Device and encoder choice (core.retrieval.device), and an fp32 cache valid on any device.

This machine has no GPU: the CUDA / MPS branches are exercised through
DeviceProbe values, not real devices.
"""

from __future__ import annotations

import pytest

from core.errors import StudioError
from core.retrieval.device import DeviceProbe, choose_device, choose_encoder_kind

NONE = DeviceProbe(cuda_count=0, mps=False)
ONE_GPU = DeviceProbe(cuda_count=1, mps=False)
MAC = DeviceProbe(cuda_count=0, mps=True)


@pytest.mark.parametrize("preference, probe, expected", [
    ("auto", NONE, "cpu"), (None, NONE, "cpu"), ("auto", ONE_GPU, "cuda"), ("auto", MAC, "mps"),
    ("auto", DeviceProbe(cuda_count=2, mps=True), "cuda"),  # CUDA before MPS
    ("cpu", ONE_GPU, "cpu"), ("CUDA", ONE_GPU, "cuda"), ("cuda:0", ONE_GPU, "cuda:0"),
    ("cuda:1", DeviceProbe(cuda_count=2), "cuda:1"), ("mps", MAC, "mps"),
])
def test_choose_device(preference, probe, expected):
    assert choose_device(preference, probe) == expected


@pytest.mark.parametrize("preference, probe, message", [
    ("cuda", NONE, "no CUDA device"), ("cuda:1", ONE_GPU, "only 1 CUDA device"),
    ("mps", ONE_GPU, "Metal"), ("tpu", NONE, "unknown device"), ("cpu:0", NONE, "unknown device"),
    ("cuda:x", ONE_GPU, "unknown device"),
])
def test_an_absent_or_unknown_device_is_refused(preference, probe, message):
    with pytest.raises(StudioError, match=message):
        choose_device(preference, probe)


@pytest.mark.parametrize("encoder, device, probe, expected", [
    ("auto", "auto", NONE, ("fast", "cpu")),      # the CPU default: int8
    ("auto", "auto", ONE_GPU, ("exact", "cuda")),  # a GPU runs fp32
    ("auto", "cpu", ONE_GPU, ("fast", "cpu")),
    ("fast", "auto", ONE_GPU, ("fast", "cpu")),    # asked for the CPU engine
    ("exact", "auto", NONE, ("exact", "cpu")),
    ("exact", "auto", MAC, ("exact", "mps")),
    (None, None, NONE, ("fast", "cpu")),
])
def test_choose_encoder_kind(encoder, device, probe, expected):
    assert choose_encoder_kind(encoder, device, probe) == expected


def test_fast_on_a_gpu_device_and_unknown_encoders_are_refused():
    with pytest.raises(StudioError, match="int8 CPU model"):
        choose_encoder_kind("fast", "cuda", ONE_GPU)
    with pytest.raises(StudioError, match="unknown encoder"):
        choose_encoder_kind("int4", "auto", NONE)


def test_fp32_cache_key_does_not_depend_on_the_device(monkeypatch, tiny_project):
    """An encoder placed on "cuda" names the same cache folder as the CPU one.

    The model itself is loaded on the CPU (no GPU here); only the device the
    Encoder believes it runs on differs, which is all the key could depend on.
    """
    import core.retrieval.device as device_module
    import core.retrieval.encoder as encoder_module
    from core.project.file import Project
    from core.retrieval.embeddings import cache_folder

    cpu = encoder_module.Encoder(device="cpu")
    real_load = encoder_module.load_sentence_transformer
    monkeypatch.setattr(device_module, "choose_device", lambda preference, probe=None: "cuda")
    monkeypatch.setattr(encoder_module, "load_sentence_transformer",
                        lambda folder, device="cpu": real_load(folder, device="cpu"))
    gpu = encoder_module.Encoder(device="cuda")
    assert gpu.device == "cuda" and cpu.device == "cpu"
    assert gpu.cache_key == cpu.cache_key == cpu.fingerprint
    with Project.open(tiny_project) as project:
        assert cache_folder(project, gpu) == cache_folder(project, cpu)


def test_fp32_vectors_agree_across_encoding_paths():
    """Our chunked, length-sorted fp32 path vs one-at-a-time SentenceTransformer.encode.

    Batching and padding are what differ between devices' kernels too; the
    cache is shared on the premise that fp32 vectors agree to cosine >= 0.999.
    """
    import numpy as np

    from core.retrieval.encoder import Encoder, load_sentence_transformer

    texts = [f"Text number {i}: " + "bone density and vitamin D " * (i % 5 + 1) for i in range(20)]
    ours = Encoder(device="cpu", batch_size=7, chunk_size=7).encode_documents(texts)
    model = load_sentence_transformer(Encoder(device="cpu").model_path, device="cpu")
    reference = np.vstack([model.encode([t], normalize_embeddings=True) for t in texts])
    cos = (ours * reference).sum(axis=1)
    assert cos.min() >= 0.999


def test_preferences_are_checked_without_probing_unless_a_device_is_named(monkeypatch):
    from core.retrieval import device as device_module
    from core.retrieval.device import check_preferences

    def no_probe():
        raise AssertionError("probed the devices")

    monkeypatch.setattr(device_module.DeviceProbe, "from_torch", staticmethod(no_probe))
    check_preferences("auto", "auto")
    check_preferences("fast", "cpu")
    with pytest.raises(StudioError, match="unknown encoder"):
        check_preferences("turbo", "auto")
    with pytest.raises(StudioError, match="unknown device"):
        check_preferences("auto", "gpu")
    monkeypatch.setattr(device_module.DeviceProbe, "from_torch", staticmethod(lambda: NONE))
    with pytest.raises(StudioError, match="no CUDA device"):
        check_preferences("exact", "cuda")


def test_compute_choice_from_stored_values_and_its_fallback(monkeypatch):
    from core.retrieval.device import ComputeChoice

    assert ComputeChoice.parse("CUDA", "fast") == ComputeChoice("cuda", "fast")
    assert ComputeChoice.parse("tpu", None) == ComputeChoice("auto", "auto")
    assert ComputeChoice("cpu", "exact").checked() == (ComputeChoice("cpu", "exact"), "")
    monkeypatch.setattr(DeviceProbe, "from_torch", classmethod(lambda cls: DeviceProbe(0, False)))
    choice, why = ComputeChoice("cuda", "exact").checked()
    assert choice == ComputeChoice() and "no CUDA device" in why
    choice, why = ComputeChoice("mps", "fast").checked()  # a contradiction: int8 runs on the CPU only
    assert choice == ComputeChoice() and why
