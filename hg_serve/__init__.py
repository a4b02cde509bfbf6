"""hg-serve: not implemented yet (see the project's issues)."""
