"""hg-build: the gallery database (SQLite) from hg-extract's records, and its query language."""
