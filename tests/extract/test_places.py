"""hg_extract.places: the cached places table answers exactly as reverse_geocoder does."""

from __future__ import annotations

import random

import pytest
import reverse_geocoder

from hg_extract.places import CACHE_NAME, Places, parse_table


def test_nearest_place_matches_reverse_geocoder_and_the_cache_is_used(tmp_path):
    first = Places.load(tmp_path)
    assert (tmp_path / CACHE_NAME).exists()
    cached = Places.load(tmp_path)
    rg = reverse_geocoder.RGeocoder(mode=1, verbose=False)
    rng = random.Random(5)
    points = [(49.41, 8.7), (60.14, 24.9), (0.0, 0.0), (-90, -180), (90, 180)]
    points += [(rng.uniform(-60, 70), rng.uniform(-180, 180)) for _ in range(300)]
    for lat, lon in points:
        want = dict(rg.query([(lat, lon)])[0])
        assert first.nearest(lat, lon) == want == cached.nearest(lat, lon)
    assert first.nearest(49.41, 8.7)["name"] == "Heidelberg"


def test_a_stale_or_broken_cache_is_rebuilt(tmp_path):
    table = tmp_path / "places.csv"
    table.write_text(
        'lat,lon,name,admin1,admin2,cc\n1.0,2.0,One,A,,XX\n5.0,5.0,"Five, Inc",B,,YY\n'
    )
    cache = tmp_path / "cache"
    assert Places.load(cache, table).nearest(4, 4)["name"] == "Five, Inc"
    table.write_text("lat,lon,name,admin1,admin2,cc\n4.0,4.0,Four,C,,ZZ\n")  # a new table
    assert Places.load(cache, table).nearest(4, 4)["name"] == "Four"
    (cache / CACHE_NAME).write_bytes(b"not a zip file")
    assert Places.load(cache, table).nearest(4, 4)["cc"] == "ZZ"
    with pytest.raises(ValueError):
        parse_table(b"a,b\n1,2\n")
