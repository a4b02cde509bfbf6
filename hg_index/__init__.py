"""hg-index: walk sources, checksum files (blake3), keep a per-source index, print changes.

What every stage shares (NDJSON, records, config, logging, progress, locks, the exit-code
funnel, the index file) is in hg_common; later stages may import from here too (the
checksum), nothing here imports them.
"""
