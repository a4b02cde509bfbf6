import io

import orjson

from hg_common.progress import Progress


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_json_progress_has_rates_and_eta():
    out, clock = io.StringIO(), Clock()
    p = Progress("index", "json", stream=out, clock=clock)
    p.total_bytes = 1000
    clock.t = 2.0
    p.update(files=10, nbytes=250, phase="pictures")
    p.close()
    first, last = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert first["files_per_s"] == 5.0 and first["bytes_per_s"] == 125
    assert first["eta"] == 6.0 and first["phase"] == "pictures"
    assert last["final"] is True


def test_bar_renders_on_one_line():
    out, clock = io.StringIO(), Clock()
    p = Progress("index", "bar", stream=out, clock=clock)
    clock.t = 1.0
    p.update(files=3, nbytes=2048)
    assert out.getvalue().startswith("\rindex") and "3 files" in out.getvalue()


def test_off_is_silent():
    out = io.StringIO()
    p = Progress("index", "off", stream=out)
    p.update(files=1)
    p.close()
    assert out.getvalue() == ""
