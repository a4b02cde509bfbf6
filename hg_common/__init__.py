"""The shared layer: the contracts between the stages, each owned by one module here.

Every stage may import from hg_common; hg_common imports no stage except hg_index's
sidecar rule and index reader (`groups`), which move here with the rest of hg_index's
shared basics. See docs/architecture.md "Shared layer".
"""
