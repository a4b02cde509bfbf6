import pytest

from hg_common.errors import ConfigError
from hg_common.limits import AddLimits, parse_add_limits


@pytest.mark.parametrize(("count", "limit"), [(0, 10), (10, 20), (50, 25), (75, 30)])
def test_homegallery_examples(count, limit):
    # HomeGallery's limit-filter.test.ts with limits '10,20,1.5,30'
    assert parse_add_limits("10,20,1.5,30").limit(count) == limit


def test_defaults_and_progression():
    limits = parse_add_limits("")
    assert limits == AddLimits(200, 500, 1.25, 8000)
    assert parse_add_limits("200") == limits
    assert parse_add_limits("10,,2") == AddLimits(10, 500, 2.0, 8000)
    # 200, then +500 ... then 25 % growth, capped at 8000
    assert [limits.limit(c) for c in (0, 200, 700, 2200, 2750, 40001)] == [
        200,
        500,
        500,
        550,
        687,
        8000,
    ]


@pytest.mark.parametrize("text", ["a,b", "1,2,3,4,5", "0", "10,20,0.5", "-1"])
def test_invalid(text):
    with pytest.raises(ConfigError):
        parse_add_limits(text)
