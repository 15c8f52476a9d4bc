"""Reading back the evaluations stored in a project's ``runs`` and ``metrics`` tables.

:func:`core.evaluation.evaluate.evaluate_retriever` (and so every Compare)
records each run with its mean metrics (``query_id = ''``). Views that show
a model's score without running anything (the training panel's model list)
read the newest stored mean here.
"""

from __future__ import annotations

from core.project.file import Project


def latest_means(project: Project, *, retriever: str = "dense", split: str | None = "test",
                 metric: str = "ndcg@10") -> dict[str, float]:
    """Model id → the mean ``metric`` of its newest stored ``retriever`` run on ``split``.

    ``split=None`` means runs over all queries. Models never evaluated that
    way are absent.
    """
    rows = project.conn.execute(
        "SELECT r.model_version, m.value FROM runs r JOIN metrics m ON m.run_id = r.id "
        "WHERE r.retriever = ? AND r.split IS ? AND m.metric = ? AND m.query_id = '' "
        "AND r.model_version IS NOT NULL ORDER BY r.id",
        (retriever, split, metric)).fetchall()
    return {model: float(value) for model, value in rows}  # later (newer) runs win
