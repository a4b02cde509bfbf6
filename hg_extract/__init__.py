"""hg-extract: metadata, previews and web videos per file, computed once into storage."""
