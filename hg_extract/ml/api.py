"""The api backend: a HomeGallery api-server (github.com/xemle/home-gallery, packages/api-server),
spoken exactly as HomeGallery's extractor does, so a user's running api-server works unchanged.

Protocol: `POST <url>/embeddings`, `/objects`, `/faces` with the raw JPEG preview as the body
and `Content-Type: image/jpeg`; a 2xx answer is a JSON object with a `data` list, stored
verbatim (`-similarity.json`, `-objects.json`, `-faces.json`); errors are 4xx/5xx with a JSON
`{"error"}`. As HomeGallery: a timeout per request (30 s), at most `concurrency` requests at
once (5, 1..20), and a detector is disabled for the rest of the run after more than
`max_errors` errors (5; a success counts one error off). A 501 (Not Implemented: e.g. an
hg-serve `--ml-api` from before it answered `/faces`) means the server does not offer that
detector: it is not asked again in this run and is no entry's error.

Credentials in the URL (`http://user:password@host:3000`, for an hg-serve with users) are
sent as HTTP Basic by requests; messages name the URL without them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests

from hg_extract.ml import FACES, OBJECTS, SIMILARITY, MLError

log = logging.getLogger("hg-extract")

ENDPOINTS = {"embeddings": SIMILARITY, "objects": OBJECTS, "faces": FACES}
"""Endpoint -> the storage file of its answer."""
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONCURRENCY = 5
MAX_CONCURRENCY = 20
MAX_ERRORS = 5
USER_AGENT = "hg/0.1 (hg-extract api backend)"


@dataclass
class ApiResult:
    """One preview's answers: endpoint -> the answer's bytes (valid JSON), or -> an error."""

    answers: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)
    """Endpoints not asked because they were disabled in this run after errors."""
    not_offered: list[str] = field(default_factory=list)
    """Endpoints the server does not offer (it answered 501): nothing to store, no error."""


class NotOffered(MLError):
    """The server answered 501 Not Implemented: it has no such detector."""


def check_answer(endpoint: str, body: bytes) -> Any:
    """The parsed answer, or MLError when it is not what the api-server sends."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MLError(f"the answer is not JSON ({exc})") from exc
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise MLError("the answer is not a JSON object with a data list")
    data = value["data"]
    if endpoint == "embeddings":
        if not data or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in data
        ):
            raise MLError("the answer's data is not a list of numbers")
    elif not all(isinstance(v, dict) for v in data):
        raise MLError("the answer's data is not a list of objects")
    return value


class ApiClient:
    """Thread-safe: the runner calls `analyse` from up to `concurrency` threads; a
    semaphore holds the requests in flight to `concurrency` whoever calls."""

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_errors: int = MAX_ERRORS,
        endpoints: tuple[str, ...] = tuple(ENDPOINTS),
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"api server URL must be http(s)://…, not {url!r}")
        self.url = url.rstrip("/")
        self.display_url = _without_credentials(self.url)
        self.timeout = timeout
        self.concurrency = max(1, min(MAX_CONCURRENCY, concurrency))
        self.max_errors = max_errors
        self.endpoints = endpoints
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._errors = dict.fromkeys(endpoints, 0)
        self.disabled: set[str] = set()
        self.not_offered: set[str] = set()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
        return session

    def post(self, endpoint: str, jpeg: bytes) -> bytes:
        """The answer's bytes, checked; MLError with the sentence of what went wrong."""
        where = f"api server {self.display_url}/{endpoint}"
        try:
            with self._slots:
                resp = self._session().post(
                    f"{self.url}/{endpoint}",
                    data=jpeg,
                    headers={"Content-Type": "image/jpeg", "Accept": "application/json"},
                    timeout=self.timeout,
                )
        except requests.Timeout as exc:
            raise MLError(f"{where}: no answer within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise MLError(f"{where}: {type(exc).__name__}: {_reason(exc)}") from exc
        if resp.status_code == 501:
            raise NotOffered(f"{where}: HTTP 501{_error_text(resp.content)}")
        if not 200 <= resp.status_code < 300:
            raise MLError(f"{where}: HTTP {resp.status_code}{_error_text(resp.content)}")
        try:
            check_answer(endpoint, resp.content)
        except MLError as exc:
            raise MLError(f"{where}: {exc}") from exc
        return resp.content

    def analyse(self, jpeg: bytes, endpoints: tuple[str, ...] | None = None) -> ApiResult:
        """Ask every detector (of `endpoints`, default all) that is not disabled about one
        preview."""
        result = ApiResult()
        asked = (
            self.endpoints if endpoints is None else [e for e in endpoints if e in self.endpoints]
        )
        for endpoint in asked:
            if endpoint in self.not_offered:
                result.not_offered.append(endpoint)
                continue
            if endpoint in self.disabled:
                result.disabled.append(endpoint)
                continue
            try:
                result.answers[endpoint] = self.post(endpoint, jpeg)
            except NotOffered as exc:
                result.not_offered.append(endpoint)
                self._not_offered(endpoint, exc)
            except MLError as exc:
                result.errors[endpoint] = str(exc)
                self._failed(endpoint)
            else:
                with self._lock:
                    self._errors[endpoint] = max(0, self._errors[endpoint] - 1)
        return result

    def _not_offered(self, endpoint: str, exc: NotOffered) -> None:
        with self._lock:
            if endpoint in self.not_offered:
                return
            self.not_offered.add(endpoint)
        log.info("%s: not offered by this server, not asked again in this run", exc)

    def _failed(self, endpoint: str) -> None:
        with self._lock:
            self._errors[endpoint] += 1
            if self._errors[endpoint] > self.max_errors and endpoint not in self.disabled:
                self.disabled.add(endpoint)
                log.warning(
                    "api server %s/%s: disabled for this run after %d errors",
                    self.display_url,
                    endpoint,
                    self._errors[endpoint],
                )


def _without_credentials(url: str) -> str:
    """The URL without `user:password@`: it goes into logs and error records."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text.splitlines()[0][:200] if text else "no answer"


def _error_text(body: bytes) -> str:
    """`: <error>` from an api-server's JSON error body, else nothing."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict):
        error = error.get("message") or error.get("error")
    return f": {str(error)[:200]}" if error else ""
