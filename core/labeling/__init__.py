"""What the labeling view reads and keeps counting, without Qt.

Owns the candidate rows a pane shows for one (query, retriever, depth)
request, with highlighted titles and snippets, and the BM25-vs-dense
disagreement measure (:mod:`~core.labeling.candidates`); and the query
overview with per-query label counts and project totals, kept current by
applying label changes instead of recounting
(:mod:`~core.labeling.overview`). It sits above mining because a query's
count of unreviewed proposals comes from the latest mining pass, and it reads
the project and retrieval below that. Functions that take a project *path*
open their own connection and are meant for a worker thread.
"""
