"""A stand-in for HomeGallery's api-server on 127.0.0.1 (the remote service's test double):
the same routes, headers and answers as packages/api-server (see homegallery-internals.md §6).

`POST /embeddings` answers 1024 values from the JPEG itself (its 32x32 grey pixels scaled to
MobileNet's 0..2.875), so similar images get similar vectors; `/objects` answers `objects`;
`/faces` answers `faces` when set, else the faces of the JPEG itself in face-api's shape
(`face_api_answer`: dlib finds them here, as face-api's nets cannot run in Python).
`mode[endpoint]` makes an endpoint misbehave: "500", "501" (a server without that
detector), "malformed",
"no-data", "slow" (sleeps `delay` s), "drop" (closes the connection). Every request is kept
(`requests`: path, content type, body sha1), and the most requests ever in flight at once
(`max_inflight`).
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import orjson
from PIL import Image

MODELS = {
    "embeddings": {"model": "mobilenet", "version": "v1_1.0"},
    "objects": {"model": "cocossd", "version": "mobilenet_v2"},
    "faces": {"model": "face-api"},
}


_model = None
_model_lock = threading.Lock()


def face_api_answer(img: Image.Image) -> list[dict]:
    """The faces of an image as HomeGallery's api-server answers them (face-api's result,
    homegallery-internals.md §6): the shape is hg's one (`faces.face_api_data`, also
    hg-serve --ml-api's), the faces dlib's (real faces, real 128-d descriptors; face-api's
    own numbers differ, its nets cannot run in Python). What face-api has and dlib has not
    is made up: the score is dlib's margin as a probability, age, gender and expressions
    are fixed."""
    global _model
    from hg_extract.ml import faces

    with _model_lock:  # dlib's objects are not shared between threads
        if _model is None:
            _model = faces.FaceModel()
        found = _model.run(faces.rgb_array(img))
    data = faces.face_api_data(found, score=lambda m: round(float(1 / (1 + np.exp(-4 * m))), 6))
    for face in data:
        face.update({
            "gender": "female", "genderProbability": 0.65, "age": 34.56789,
            "expressions": {"neutral": 0.61, "happy": 0.35, "sad": 0.02, "angry": 0.01,
                            "fearful": 0.0, "disgusted": 0.0, "surprised": 0.01},
        })  # fmt: skip
    return data


class FakeApiServer:
    def __init__(self) -> None:
        self.mode: dict[str, str] = {}
        self.delay = 2.0
        self.objects: list[dict] = [{"bbox": [10, 20, 100, 50], "class": "dog", "score": 0.9}]
        self.faces: list[dict] | None = None
        """None: the JPEG's own faces (`face_api_answer`)."""
        self.requests: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(200, {"health": "OK", "uptime": 1})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint = self.path.strip("/")
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "content_type": self.headers.get("Content-Type"),
                            "sha1": hashlib.sha1(body).hexdigest(),
                            "size": len(body),
                        }
                    )
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                self._counted = True
                try:
                    self._answer(endpoint, body)
                finally:
                    self._done()

            def _done(self) -> None:
                # before the answer is written: once the client has it, it may send the next
                # request, which must not find this one still counted
                if getattr(self, "_counted", False):
                    self._counted = False
                    with server._lock:
                        server.inflight -= 1

            def _answer(self, endpoint: str, body: bytes) -> None:
                if endpoint not in MODELS:
                    return self._send(404, {"error": "not found"})
                if self.headers.get("Content-Type") != "image/jpeg":
                    return self._send(415, {"error": "Content-Type must be image/jpeg"})
                mode = server.mode.get(endpoint, "ok")
                if mode == "slow":
                    time.sleep(server.delay)
                if mode == "500":
                    return self._send(500, {"error": "model failed"})
                if mode == "501":
                    return self._send(501, {"error": "not implemented"})
                if mode == "malformed":
                    return self._send(200, b'{"data": [1, 2')
                if mode == "no-data":
                    return self._send(200, {"srcSha1sum": "x"})
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                try:
                    img = Image.open(io.BytesIO(body))
                    img.load()
                except Exception as exc:
                    return self._send(500, {"error": f"cannot decode: {exc}"})
                answer = {
                    "srcSha1sum": hashlib.sha1(body).hexdigest(),
                    **MODELS[endpoint],
                    "created": datetime.now(UTC).isoformat(),
                }
                if endpoint == "embeddings":
                    grey = np.asarray(img.convert("L").resize((32, 32)), np.float64)
                    answer["data"] = [round(float(v), 6) for v in (grey / 255 * 2.875).ravel()]
                else:
                    answer.update(width=img.width, height=img.height)
                    if endpoint == "objects":
                        answer["data"] = server.objects
                    elif server.faces is not None:
                        answer["data"] = server.faces
                    else:
                        answer["data"] = face_api_answer(img)
                return self._send(200, answer)

            def _send(self, status: int, value: object) -> None:
                data = value if isinstance(value, bytes) else orjson.dumps(value)
                self._done()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # A request a client gave up on (a timeout) may still be in dlib: a daemon thread
        # inside C++ when the interpreter exits aborts it ("terminate called…"), so the
        # requests in flight end first.
        deadline = time.monotonic() + 30
        while self.inflight and time.monotonic() < deadline:
            time.sleep(0.02)
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]
