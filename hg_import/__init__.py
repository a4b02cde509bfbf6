"""hg-import: the import loop over the stages (hg-index | hg-extract | hg-build) in chunks."""
