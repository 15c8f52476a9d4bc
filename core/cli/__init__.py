"""The headless command line, ``retriever-studio <command>``.

:mod:`~core.cli.main` builds the parser and turns errors into one line and
an exit code; each area registers its own sub-commands:
:mod:`~core.cli.project` (import, info, label, export),
:mod:`~core.cli.retrieval` (search, evaluate), :mod:`~core.cli.mining` and
:mod:`~core.cli.training` (train, compare, the loop). It is the top layer:
nothing in ``core`` imports it.
"""
