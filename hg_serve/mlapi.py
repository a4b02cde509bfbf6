"""`hg-serve --ml-api`: HomeGallery's api-server endpoints, answered by hg's local models.

So a stronger machine runs the model for a small one (a Raspberry Pi's `hg-extract --ml
api URL`, or HomeGallery's extractor with `--api-server URL`). The protocol is the
api-server's (homegallery-internals.md §6): `POST /embeddings`, `/objects`, `/faces` with the
raw JPEG as the body and `Content-Type: image/jpeg`; the answers are JSON objects with a
`data` list (see `hg_extract.api`); errors are JSON `{"error"}`:

- 400 an empty body or one that is not a JPEG (or declares more than 40 megapixels),
  413 a body above 2 MiB (as the api-server), 415 another Content-Type;
- 503 a model cannot be loaded (a missing or damaged file: the message says which and
  why); the server stays up and the gallery works, that model's endpoints answer 503 until a
  restart (the objects model's `/embeddings` and `/objects`, the face model's `/faces`: one
  can fail without the other).
- 500 a model pass that failed.

`/faces` answers face-api's shape (HomeGallery's api-server) with dlib's faces under hg's
face model name (`hg_extract.ml.faces.face_api_json`), so hg-build maps them to the faces
`--ml local` finds. Inference runs in worker threads (never on the event loop), at most one
per core at once: decoding in parallel, each model one request at a time (`Analyser`). With
`[[server.users]]` these routes need a login like the JSON API (Basic works for machines).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger("hg-serve")

PATHS = ("/embeddings", "/objects", "/faces", "/health")
"""The routes of the api-server (for the auth middleware: they answer 401, never a login
page)."""


def _json(status: int, value: Any) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


class MlApi:
    """The endpoints and the model behind them (one per app)."""

    def __init__(self) -> None:
        from hg_extract import api  # only a server with --ml-api pays for numpy and Pillow

        self.api = api
        self.analyser = api.Analyser()
        cores = len(os.sched_getaffinity(0)) or 1
        self.limiter = anyio.CapacityLimiter(cores)
        self.started = 0.0

    async def load(self) -> None:
        """Load the models at start (in a thread): a damaged file is in the log at once."""
        self.started = anyio.current_time()
        for load, endpoints in (
            (self.analyser.load, "/embeddings and /objects"),
            (self.analyser.load_faces, "/faces"),
        ):
            try:
                await anyio.to_thread.run_sync(load, limiter=self.limiter)
            except self.api.ModelError as exc:
                log.error("--ml-api: %s; %s answer 503", exc, endpoints)
            else:
                log.info("--ml-api: model loaded, answering %s", endpoints)

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/embeddings", self.endpoint("embeddings"), methods=["POST"]),
            Route("/objects", self.endpoint("objects"), methods=["POST"]),
            Route("/faces", self.endpoint("faces"), methods=["POST"]),
        ]

    async def health(self, request: Request) -> Response:
        uptime = int((anyio.current_time() - self.started) * 1000)
        return _json(200, {"health": "OK", "uptime": uptime})

    def endpoint(self, name: str):
        async def handle(request: Request) -> Response:
            body = await self._body(request)
            if isinstance(body, Response):
                return body
            try:
                answer = await anyio.to_thread.run_sync(
                    self.analyser.answer, name, body, limiter=self.limiter
                )
            except self.api.InputError as exc:
                return _error(400, str(exc))
            except self.api.ModelError as exc:
                return _error(503, str(exc))
            except self.api.MLError as exc:
                log.warning("--ml-api /%s: %s", name, exc)
                return _error(500, str(exc))
            return _json(200, answer)

        return handle

    async def _body(self, request: Request) -> bytes | Response:
        """The JPEG of a request, or the error answer: read no more than the limit."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "image/jpeg":
            return _error(415, "Content-Type must be image/jpeg")
        limit = self.api.MAX_BYTES
        too_large = _error(413, f"the body is larger than {limit >> 20} MiB")
        try:
            if int(request.headers.get("content-length") or 0) > limit:
                return too_large
        except ValueError:
            return _error(400, "Content-Length is not a number")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
        return b"".join(chunks)
