"""The project file: one SQLite database per project and what it says.

Owns the schema and its ordered migrations (:mod:`core.project.schema`), the
:class:`~core.project.file.Project` connection with documents, queries,
labels and their history (:mod:`core.project.file`), and the read-only
questions views ask of labels and text (:mod:`core.project.queries`: a
query's labels and proposals, one label per document for the whole map,
id and text search). Everything else in ``core`` builds on this package;
it imports nothing from the other capability packages.
"""
