"""The error every tool reports as a usage problem (exit 2), whoever raises it."""

from __future__ import annotations


class ConfigError(ValueError):
    """The configuration, a flag or an input file is invalid; tools exit with status 2."""
