"""Fine-tuning in a child process: ``python -m core.training.worker``, JSON lines in and out.

Why a process: in a thread of the GUI process, loading torch /
transformers and building the trainer hold the GIL for up to a second at a
time (measured: 0.98 s longest UI stall on the tiny test model, see
tests/test_gui_training.py), which freezes the window. A child process has
its own interpreter; the parent's job thread only waits on a pipe.

Protocol. stdin, first line: ``{"project": path, "config": {...TrainingConfig},
"remine": bool, "prepare": bool, "device": str, "encoder": str}`` (or
``{"project": path, "remine_model": id, "device", "encoder"}`` to only re-mine);
any later line (or end of input, e.g. the parent died) asks to cancel. stdout, one JSON object per line:
``{"type": "progress", "fraction", "message", "local", "done", "total"}`` (the
overall fraction and the stage's own, as :class:`core.progress.Step` has them), ``{"type": "step", ...entry}``,
``{"type": "note", "name", "value"}`` (:meth:`core.progress.Progress.note`),
then exactly one of ``{"type": "result", "version_id", "mining_pass",
"encode_seconds", "mine_seconds", "mining_counts", "embeddings"}`` (re-mine only:
``{"type": "result", "remine": {...}}``), ``{"type": "cancelled"}``,
``{"type": "error", "message", "user_error": bool}``. Everything else the
libraries print goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

from core.progress import Cancelled, Progress, Step
from core.training.trainer import StepCallback, TrainingConfig

_MODULE = "core.training.worker"

# Children running now, so an app that quits without waiting for its jobs can
# end them (stop_children) instead of leaving them to train on, orphaned.
_children: set = set()
_children_lock = threading.Lock()


def stop_children() -> int:
    """Terminate every worker child still running; returns how many were asked to stop.

    For an app that is quitting: the job threads waiting on these children
    are not waited for, and a child would otherwise run until its next
    cancellation point (or its end) after the app is gone. A stopped run
    stores nothing: a model version is registered in one step at its end,
    and its temporary folder is cleared as a leftover later.
    """
    with _children_lock:
        running = [c for c in _children if c.poll() is None]
    for child in running:
        try:
            child.terminate()
        except OSError:  # it ended in the meantime
            pass
    return len(running)


def _serve(request: dict, emit: Callable[[dict], None], progress: Progress) -> None:
    from core.errors import StudioError
    from core.training.loop import remine_job, run_training_job

    def on_step(entry: dict) -> None:
        emit({"type": "step", **entry})

    encoding = {"device": request.get("device") or "auto", "encoder": request.get("encoder") or "exact"}
    try:
        if request.get("remine_model"):
            summary = remine_job(request["project"], request["remine_model"], progress=progress,
                                 **encoding)
            emit({"type": "result", "remine": summary})
            return
        outcome = run_training_job(request["project"], TrainingConfig.from_dict(request["config"]),
                                   remine=bool(request.get("remine")),
                                   prepare=bool(request.get("prepare", True)), progress=progress,
                                   on_step=on_step, lower_priority=True, **encoding)
    except Cancelled:
        emit({"type": "cancelled"})
        return
    except StudioError as exc:
        emit({"type": "error", "message": str(exc), "user_error": True})
        return
    except Exception as exc:  # a bug: the trace goes to stderr for the log
        traceback.print_exc()
        emit({"type": "error", "message": f"{type(exc).__name__}: {exc}", "user_error": False})
        return
    summary = outcome.remine_summary() or {}
    emit({"type": "result", "version_id": outcome.version.id,
          "mining_pass": outcome.mining_pass, "encode_seconds": outcome.encode_seconds,
          "mine_seconds": outcome.mine_seconds, "mining_counts": summary.get("counts"),
          "embeddings": outcome.embeddings})


def main() -> int:
    # The protocol owns the real stdout; anything printed by libraries
    # (Python or C level) is sent to stderr instead.
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    lock = threading.Lock()

    def emit(obj: dict) -> None:
        with lock:
            proto.write(json.dumps(obj) + "\n")
            proto.flush()

    first = sys.stdin.readline()
    if not first.strip():
        emit({"type": "error", "message": "no request on stdin", "user_error": False})
        return 2
    request = json.loads(first)
    def report(fraction: float, message: str) -> None:
        step = progress.step  # the stage's own fraction and count, for the parent's display
        emit({"type": "progress", "fraction": fraction, "message": message,
              "local": step.local if step is not None else fraction,
              "done": step.done if step is not None else None,
              "total": step.total if step is not None else None})

    progress = Progress(report,
                        on_note=lambda name, value: emit({"type": "note", "name": name, "value": value}))

    def watch_stdin() -> None:
        sys.stdin.readline()  # a line or EOF: either way, stop
        progress.cancel()

    threading.Thread(target=watch_stdin, daemon=True).start()
    torch_threads = request.get("torch_threads")
    if torch_threads:
        import torch

        torch.set_num_threads(int(torch_threads))
    _serve(request, emit, progress)
    proto.close()
    return 0


def _run_child(request: dict, progress: Progress, on_step: StepCallback | None,
               python: str | None, poll_s: float) -> tuple[dict, list[dict]]:
    """Start the worker, relay its progress and steps, return (final message, step entries).

    Raises :class:`Cancelled`, :class:`StudioError` (user errors, a dead
    child) or RuntimeError (a bug in the child, with its stderr tail).
    """
    import queue
    import subprocess

    from core.errors import StudioError

    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1"})
    # The child must import this very package, wherever the parent found it.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    child = subprocess.Popen(
        [python or sys.executable, "-m", _MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env, cwd=root)
    with _children_lock:
        _children.add(child)
    lines: "queue.Queue[str | None]" = queue.Queue()
    stderr_tail: list[str] = []

    def pump_stdout() -> None:
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        for line in child.stderr:
            stderr_tail.append(line)
            del stderr_tail[:-40]

    threading.Thread(target=pump_stdout, daemon=True).start()
    threading.Thread(target=pump_stderr, daemon=True).start()
    child.stdin.write(json.dumps(request) + "\n")
    child.stdin.flush()

    history: list[dict] = []
    final: dict | None = None
    cancel_sent = False
    try:
        while True:
            if progress.cancelled and not cancel_sent:
                cancel_sent = True
                try:
                    child.stdin.write("cancel\n")
                    child.stdin.flush()
                except OSError:
                    pass
            try:
                line = lines.get(timeout=poll_s)
            except queue.Empty:
                continue
            if line is None:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "progress" and not cancel_sent:
                try:
                    progress.relay(Step(msg["message"], msg["fraction"], msg.get("local", msg["fraction"]),
                                        msg.get("done"), msg.get("total")))
                except Cancelled:
                    pass  # noticed at the top of the loop; the child cleans up first
            elif kind == "note" and isinstance(msg.get("name"), str):
                progress.note(msg["name"], msg.get("value"))
            elif kind == "step":
                entry = {k: v for k, v in msg.items() if k != "type"}
                history.append(entry)
                if on_step is not None:
                    on_step(entry)
            elif kind in ("result", "cancelled", "error"):
                final = msg
        child.wait(timeout=60)
    except BaseException:
        child.kill()
        child.wait()
        raise
    finally:
        with _children_lock:
            _children.discard(child)
        try:
            child.stdin.close()
        except OSError:
            pass

    if final is None:
        tail = "".join(stderr_tail).strip().splitlines()[-1:] or ["no output"]
        raise StudioError(f"the training process ended unexpectedly (exit code {child.returncode}): {tail[0]}")
    if final["type"] == "cancelled":
        raise Cancelled()
    if final["type"] == "error":
        if final.get("user_error"):
            raise StudioError(final["message"])
        raise RuntimeError(final["message"] + "\n" + "".join(stderr_tail[-20:]))
    return final, history


def run_training_subprocess(
    project_path: str | Path,
    config: TrainingConfig,
    *,
    remine: bool = False,
    prepare: bool = True,
    device: str | None = "auto",
    encoder: str | None = "exact",
    progress: Progress | None = None,
    on_step: StepCallback | None = None,
    torch_threads: int | None = None,
    python: str | None = None,
    poll_s: float = 0.1,
):
    """Run :func:`core.training.loop.run_training_job` in a child process; same result, same errors.

    With ``prepare`` (and no ``remine``) the child goes on to encode the new
    version's corpus and queries with ``device`` / ``encoder`` before it
    returns, so Compare and Re-mine with the same choice find them cached.

    Progress and step entries are relayed as they arrive. Cancelling
    ``progress`` asks the child to stop at its next step (it removes its
    temporary folder itself) and raises :class:`Cancelled` once it has exited.
    Returns a :class:`core.training.loop.LoopOutcome` read back from the project.
    """
    from dataclasses import replace

    from core.errors import StudioError
    from core.project.file import Project
    from core.training.loop import LoopOutcome
    from core.training.trainer import get_model_version

    request = {"project": str(project_path), "config": config.to_dict(), "remine": remine,
               "prepare": prepare, "device": device, "encoder": encoder, "torch_threads": torch_threads}
    final, history = _run_child(request, progress or Progress(), on_step, python, poll_s)
    with Project.open(project_path) as project:
        version = get_model_version(project, final["version_id"])
    if version is None:
        raise StudioError(f"model version {final['version_id']} was not found after training")
    version = replace(version, loss_history=history)
    return LoopOutcome(version, final.get("mining_pass"), final.get("mining_counts"),
                       float(final.get("encode_seconds") or 0.0), float(final.get("mine_seconds") or 0.0),
                       embeddings=final.get("embeddings"))


def run_remine_subprocess(project_path: str | Path, model_id: str, *, progress: Progress | None = None,
                          device: str | None = "auto", encoder: str | None = "exact",
                          torch_threads: int | None = None, python: str | None = None,
                          poll_s: float = 0.1) -> dict:
    """Run :func:`core.training.loop.remine_job` (encode, index, mine a pass with ``model_id``) in a child process."""
    request = {"project": str(project_path), "remine_model": model_id, "device": device,
               "encoder": encoder, "torch_threads": torch_threads}
    final, _ = _run_child(request, progress or Progress(), None, python, poll_s)
    return final["remine"]


if __name__ == "__main__":
    sys.exit(main())
