"""The one-way flow, as imports: a stage imports only the stages before it and the shared
layer; hg-serve reaches hg-build (and hg-extract's model, for `--ml-api`) through their
facades alone, and hg-import runs the stages as
programs (it imports none of them)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ALLOWED = {
    "hg_common": {"hg_common"},
    "hg_index": {"hg_index", "hg_common"},
    "hg_extract": {"hg_extract", "hg_common", "hg_index"},
    "hg_build": {"hg_build", "hg_common"},
    "hg_import": {"hg_import", "hg_common"},
    "hg_serve": {"hg_serve", "hg_common", "hg_build.api", "hg_extract.api"},
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("hg_build", "hg_extract"):  # `from hg_build import api`
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return {n for n in names if n.startswith("hg_")}


def allowed(name: str, targets: set[str]) -> bool:
    return any(name == t or name.startswith(t + ".") for t in targets)


def test_stages_import_only_what_comes_before():
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package, targets in ALLOWED.items()
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imports(path))
        if not allowed(name, targets)
    ]
    assert wrong == []
