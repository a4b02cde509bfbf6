"""hg-serve command line: an honest placeholder until the stage is built."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hg_index.cli_support import EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if "--version" in args:
        print("hg-serve 0.1.0")
        return 0
    if "--watch" in args:  # until the server lands: watch and import in the foreground
        from hg_serve.watch import watch_main

        return watch_main(args)
    print("hg-serve: not implemented yet", file=sys.stderr)
    return EXIT_USAGE
