"""Command ``encode``: corpus and queries into the cache, documents per second, --no-cache, --device."""

from __future__ import annotations

import json

import pytest

from core.cli.main import main


def _encode(capsys, project, *extra):
    code = main(["encode", str(project), "--encoder", "exact", "--device", "cpu", "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def _cache_files(project):
    """Every file of the project's embedding cache, with its size and modification time."""
    cache = project.with_name(project.name + ".data") / "embeddings"
    return sorted((p.relative_to(cache).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in cache.rglob("*") if p.is_file())


def test_encode_fills_the_cache_once_and_no_cache_leaves_it_alone(capsys, tiny_project):
    first = _encode(capsys, tiny_project)
    assert first["encoder"]["kind"] == "exact" and first["encoder"]["device"] == "cpu"
    assert first["documents"] == 12 and first["documents_encoded"] == 12 and first["queries"] == 4
    assert first["documents_per_second"] > 0
    files = _cache_files(tiny_project)
    first_key = files[0][0].split("/")[0]
    assert any(f.startswith(f"{first_key}/queries/seg-") for f, _, _ in files)
    assert any(f.startswith(f"{first_key}/seg-") for f, _, _ in files)

    again = _encode(capsys, tiny_project)
    assert again["documents_encoded"] == 0 and again["documents_per_second"] is None

    measured = _encode(capsys, tiny_project, "--no-cache")
    assert measured["cache"] is False and measured["documents_encoded"] == 12
    assert measured["documents_per_second"] > 0
    assert _cache_files(tiny_project) == files  # nothing read into or written to the cache


def test_an_absent_gpu_is_one_clear_line(capsys, tiny_project):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code = main(["encode", str(tiny_project), "--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["retriever-studio encode: error: device 'cuda': no CUDA device is available here "
                   "(use --device cpu or auto)"]
