"""hg-build command line: an honest placeholder until the stage is built."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hg_index.cli_support import EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if "--version" in args:
        print("hg-build 0.1.0")
        return 0
    print("hg-build: not implemented yet", file=sys.stderr)
    return EXIT_USAGE
