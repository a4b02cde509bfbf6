"""Logging to stderr for every tool: stdout is data only.

`-v` shows debug lines, `-q` only errors. Messages are one line each, prefixed with the tool.
"""

from __future__ import annotations

import logging
import sys


def setup_logging(tool: str, verbose: int = 0, quiet: bool = False) -> logging.Logger:
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{tool}: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return logging.getLogger(tool)
