"""hg-index: walk sources, checksum files (blake3), keep a per-source index, print changes.

hg_index also owns what every later stage shares: the NDJSON codec (`ndjson`), the record
vocabulary (`records`), configuration (`config`), logging/progress (`log`, `progress`) and the
exit-code funnel (`cli_support`). Later stages import from here; nothing here imports them.
"""

__version__ = "0.1.0"
