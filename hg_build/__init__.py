"""hg-build: not implemented yet (see the project's issues)."""
