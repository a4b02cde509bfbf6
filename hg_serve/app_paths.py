"""Where the web app's files are (hg_serve/static/, shipped inside the package)."""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
