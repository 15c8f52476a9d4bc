"""Moved to :mod:`core.labeling` (plain Python belongs in the core).

Only re-exports what ``gui/models.py`` still imports from here; delete this
module once it imports ``core.labeling.candidates`` / ``core.labeling.overview``.
"""

from core.labeling.candidates import CandidateRow, Candidates
from core.labeling.overview import QuerySummary

__all__ = ["CandidateRow", "Candidates", "QuerySummary"]
