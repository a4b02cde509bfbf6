"""The api backend against a stand-in of HomeGallery's api-server on 127.0.0.1: the protocol
(routes, raw JPEG, Content-Type), answers kept verbatim, timeouts, concurrency, errors, and a
detector disabled after repeated errors."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from PIL import Image

from hg_extract.ml import MLError
from hg_extract.ml.api import ApiClient, check_answer
from tests.extract.api_server import FakeApiServer


def jpeg(color=(200, 100, 50), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def server():
    with FakeApiServer() as s:
        yield s


def test_each_detector_gets_the_raw_jpeg_as_image_jpeg(server):
    data = jpeg()
    result = ApiClient(server.url).analyse(data)
    assert result.errors == {} and result.disabled == []
    assert sorted(result.answers) == ["embeddings", "faces", "objects"]
    assert server.paths() == ["/embeddings", "/objects", "/faces"]
    for req in server.requests:
        assert req["content_type"] == "image/jpeg"
        assert req["sha1"] == hashlib.sha1(data).hexdigest() and req["size"] == len(data)
    emb = orjson.loads(result.answers["embeddings"])
    assert (emb["model"], emb["version"], len(emb["data"])) == ("mobilenet", "v1_1.0", 1024)
    assert emb["srcSha1sum"] == hashlib.sha1(data).hexdigest()


def test_answers_are_kept_byte_for_byte(server):
    server.objects = [{"bbox": [1.5, 2, 3, 4], "class": "cat", "score": 0.70000001, "extra": {}}]
    result = ApiClient(server.url, endpoints=("objects",)).analyse(jpeg())
    raw = result.answers["objects"]
    assert b'"score":0.70000001' in raw and b'"extra":{}' in raw  # verbatim, not re-encoded
    assert orjson.loads(raw)["data"] == server.objects


def test_a_trailing_slash_in_the_url_is_fine(server):
    ApiClient(server.url + "/", endpoints=("objects",)).analyse(jpeg())
    assert server.paths() == ["/objects"]


@pytest.mark.parametrize(
    "mode,message",
    [
        ("500", r"/objects: HTTP 500: model failed"),
        ("malformed", r"/objects: the answer is not JSON"),
        ("no-data", r"/objects: the answer is not a JSON object with a data list"),
        ("drop", r"/objects: ConnectionError"),
    ],
)
def test_a_bad_answer_is_that_detectors_error_the_others_go_on(server, mode, message):
    server.mode["objects"] = mode
    result = ApiClient(server.url).analyse(jpeg())
    assert sorted(result.answers) == ["embeddings", "faces"]
    assert list(result.errors) == ["objects"]
    assert result.errors["objects"].startswith(f"api server {server.url}/objects")
    assert re.search(message, result.errors["objects"])


def test_a_server_that_does_not_answer_in_time(server):
    server.mode["embeddings"], server.delay = "slow", 1.5
    start = time.monotonic()
    result = ApiClient(server.url, timeout=0.3, endpoints=("embeddings",)).analyse(jpeg())
    assert time.monotonic() - start < 1.2
    assert result.errors["embeddings"].endswith("/embeddings: no answer within 0.3 s")


def test_no_server_at_all():
    client = ApiClient("http://127.0.0.1:9", timeout=2, endpoints=("objects",))
    result = client.analyse(jpeg())
    assert "connection refused" in result.errors["objects"]


def test_a_detector_is_disabled_after_more_than_five_errors(server):
    server.mode["faces"] = "500"
    client = ApiClient(server.url)
    results = [client.analyse(jpeg()) for _ in range(8)]
    assert [("faces" in r.errors) for r in results] == [True] * 6 + [False] * 2
    assert [("faces" in r.disabled) for r in results] == [False] * 6 + [True] * 2
    assert server.paths().count("/faces") == 6
    assert all("embeddings" in r.answers and "objects" in r.answers for r in results)
    assert client.disabled == {"faces"}


def test_a_detector_the_server_does_not_offer_is_not_asked_again_and_no_error(server, caplog):
    caplog.set_level(logging.INFO, "hg-extract")
    server.mode["faces"] = "501"  # a server without faces (an older hg-serve --ml-api)
    client = ApiClient(server.url)
    results = [client.analyse(jpeg()) for _ in range(3)]
    assert all(r.errors == {} and r.disabled == [] for r in results)
    assert [r.not_offered for r in results] == [["faces"]] * 3
    assert all(sorted(r.answers) == ["embeddings", "objects"] for r in results)
    assert server.paths().count("/faces") == 1 and client.not_offered == {"faces"}
    assert "/faces: HTTP 501: not implemented: not offered by this server" in caplog.text


def test_credentials_in_the_url_are_sent_but_never_shown(server):
    host = server.url.removeprefix("http://")
    client = ApiClient(f"http://anna:s3cret@{host}", endpoints=("objects",))
    server.mode["objects"] = "500"
    result = client.analyse(jpeg())
    assert client.display_url == server.url
    assert "s3cret" not in result.errors["objects"] and server.url in result.errors["objects"]


def test_a_success_counts_an_error_off(server):
    client = ApiClient(server.url, endpoints=("objects",))
    for _ in range(10):  # error, ok, error, ok...: never more than one error in hand
        server.mode["objects"] = "500"
        client.analyse(jpeg())
        server.mode["objects"] = "ok"
        client.analyse(jpeg())
    assert client.disabled == set()


def test_at_most_concurrency_requests_at_once(server):
    # each request held 1 s: on a busy machine the pool's threads may start more than 0.2 s
    # apart, and then fewer than 3 would ever overlap
    server.mode["objects"], server.delay = "slow", 1.0
    client = ApiClient(server.url, concurrency=3, endpoints=("objects",))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.analyse(jpeg()), range(9)))
    assert all(r.answers for r in results)
    assert server.max_inflight == 3


def test_concurrency_is_clamped_to_1_20():
    assert ApiClient("http://127.0.0.1:1", concurrency=0).concurrency == 1
    assert ApiClient("http://127.0.0.1:1", concurrency=99).concurrency == 20
    with pytest.raises(ValueError, match="http"):
        ApiClient("ftp://example")


def test_answers_are_checked():
    assert check_answer("embeddings", b'{"data": [0.5, 1]}')["data"] == [0.5, 1]
    for endpoint, body in [
        ("embeddings", b'{"data": []}'),
        ("embeddings", b'{"data": ["a"]}'),
        ("embeddings", b'{"data": [true]}'),
        ("objects", b'{"data": [1]}'),
        ("objects", b"[]"),
        ("faces", b"nonsense"),
    ]:
        with pytest.raises(MLError):
            check_answer(endpoint, body)
