"""The 2-D map of the embedding space.

Owns importing UMAP with numba's compiled-kernel cache
(:mod:`~core.map.umap_runtime`), the layout maths — UMAP or PCA, hnswlib
neighbours, Procrustes alignment — as plain arrays (:mod:`~core.map.layout`),
the per-project layout cache (:mod:`~core.map.layout_cache`), the jobs
the map view runs: a model's map, before/after maps, ranks, read-only
project questions by path, warm-up (:mod:`~core.map.jobs`), and what the
Map tab draws, without Qt: the coloured layers and legend of each
"Colour by" mode (:mod:`~core.map.overlays`), which points a click, box or
lasso covers (:mod:`~core.map.picking`) and where to point the camera
(:mod:`~core.map.framing`). The data the map colours by comes from
:mod:`core.project.queries`.
"""
