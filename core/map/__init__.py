"""The 2-D map of the embedding space.

Owns importing UMAP with numba's compiled-kernel cache
(:mod:`~core.map.umap_runtime`), the layout maths — UMAP or PCA, hnswlib
neighbours, Procrustes alignment — as plain arrays (:mod:`~core.map.layout`),
the per-project layout cache (:mod:`~core.map.layout_cache`) and the jobs
the map view runs: a model's map, before/after maps, warm-up
(:mod:`~core.map.jobs`). What the map colours by comes from
:mod:`core.project.queries`.
"""
