"""Session fixtures: a real gallery built from ../shared/media and real hg-serve processes."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import requests

from tests.conftest import copy_media_parts, tool
from tests.serve.pipeline import import_media

GPS = [f"exif-samples/jpg/gps/DSCN00{n}.jpg" for n in (10, 12, 21, 25, 27, 29, 38, 40, 42)]
GALLERY_FILES = [
    *GPS,  # 9 Nikon photos with GPS (2008)
    "exif-samples/jpg/orientation/landscape_1.jpg",
    "exif-samples/jpg/orientation/portrait_6.jpg",  # EXIF orientation 6: displayed portrait
    "tricky/sidecar",  # XMP sidecars with tags beach/holiday and forest
    "tricky/Straße_ümlaut.jpg",
    "tricky/rotated90-gps.mp4",  # a video with GPS (1.5 s, the one that is transcoded)
]


def copy_media(parts: list[str], root: Path) -> Path:
    return copy_media_parts(parts, root)


def listen(srv, auth, types: tuple[str, ...] = ("userAction",)) -> queue.Queue:
    """The messages of these types a user's page receives over SSE (a real connection, in
    a thread), once the stream is open (its first pong)."""
    messages: queue.Queue = queue.Queue()
    ready = threading.Event()

    def run():
        try:
            with requests.get(srv.url + "/api/events/stream", auth=auth, stream=True,
                              timeout=30) as r:  # fmt: skip
                for line in r.iter_lines():
                    if line.startswith(b"data: "):
                        msg = orjson.loads(line[6:])
                        if msg["type"] == "pong":
                            ready.set()
                        elif msg["type"] in types:
                            messages.put(msg)
        except requests.RequestException:
            pass  # the server stopped at the end of the test

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(10)
    return messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str  # including the base path, no trailing slash
    home: Path
    proc: subprocess.Popen
    log: Path

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    home: Path,
    *args: str,
    base_path: str = "",
    env: dict | None = None,
    prefix: tuple[str, ...] = (),
    log_dir: Path | None = None,
) -> Server:
    """hg-serve on a free port (`prefix`: e.g. setpriv to run as another user; `log_dir`:
    where its stderr goes, default the home)."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    full_env.update(env or {})
    log = (log_dir or home) / f"serve-{port}.log"
    cmd = [*prefix, tool("hg-serve"), "--home", str(home), "--port", str(port), *args]
    if base_path:
        cmd += ["--base-path", base_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env=full_env)
    server = Server(f"http://127.0.0.1:{port}{base_path}", home, proc, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hg-serve exited {proc.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"hg-serve did not start: {log.read_text()}")


@pytest.fixture(scope="session")
def gallery_home(tmp_path_factory) -> Path:
    """A gallery home made by the real `hg-index | hg-extract | hg-build` (built once)."""
    base = tmp_path_factory.mktemp("gallery")
    home = base / "home"
    import_media(copy_media(GALLERY_FILES, base / "src"), home, video=True)
    return home


@pytest.fixture(scope="session")
def server(gallery_home):
    """hg-serve on the shared gallery (anonymous, under /gallery)."""
    srv = start_server(gallery_home, base_path="/gallery")
    yield srv
    srv.stop()


@pytest.fixture
def own_home(gallery_home, tmp_path) -> Path:
    """A private copy of the gallery home, for tests that change it."""
    home = tmp_path / "home"
    shutil.copytree(gallery_home, home, symlinks=True)
    return home


# The browser for every browser test module (one Playwright per session: a second one in
# the same process refuses to start).
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--autoplay-policy=no-user-gesture-required"]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make install` (bin/install-system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert not errors, errors
