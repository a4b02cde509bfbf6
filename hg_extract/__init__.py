"""hg-extract: not implemented yet (see the project's issues)."""
