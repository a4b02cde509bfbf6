"""Logins on a real server: wrong passwords do not slow down users who are logged in, are
limited per client (429 with Retry-After, form and Basic), and logout ends the session."""

from __future__ import annotations

import base64
import http.client
import statistics
import threading
import time
from urllib.parse import urlencode, urlsplit

import requests

from hg_serve.auth import LoginLimiter, RateLimited
from tests.serve.conftest import start_server
from tests.serve.test_auth import users_config, write_config


def users_server(home):
    write_config(home, users_config())
    srv = start_server(home)
    srv.url += "/g"
    return srv


def login(srv, name="anna", password="anna-secret") -> requests.Session:
    session = requests.Session()
    r = session.post(srv.url + "/login", data={"name": name, "password": password},
                     allow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    return session


def wrong_login(srv, source: str, basic: bool = False) -> http.client.HTTPResponse:
    """One wrong password from a client address of its own (127.0.0.x: a crowd of clients)."""
    url = urlsplit(srv.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60,
                                      source_address=(source, 0))  # fmt: skip
    try:
        if basic:
            token = base64.b64encode(b"anna:wrong").decode()
            conn.request(
                "GET", url.path + "/api/entries", headers={"Authorization": f"Basic {token}"}
            )
        else:
            body = urlencode({"name": "anna", "password": "wrong"})
            conn.request("POST", url.path + "/login", body,
                         {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def test_wrong_passwords_do_not_slow_down_a_logged_in_user(own_home):
    srv = users_server(own_home)
    try:
        session = login(srv)
        stop = threading.Event()

        def attacker(n: int) -> None:  # 30 clients, each as many tries as the limit allows
            for _ in range(5):
                if stop.is_set():
                    return
                wrong_login(srv, f"127.0.0.{10 + n}", basic=n % 2 == 1)

        crowd = [threading.Thread(target=attacker, args=(n,), daemon=True) for n in range(30)]
        for t in crowd:
            t.start()
        time.sleep(0.3)  # the crowd is hashing
        took = []
        for _ in range(40):
            start = time.perf_counter()
            assert session.get(srv.url + "/api/info").status_code == 200
            took.append(time.perf_counter() - start)
            time.sleep(0.02)
        busy = any(t.is_alive() for t in crowd)
        stop.set()
        for t in crowd:
            t.join(60)
        p95 = statistics.quantiles(took, n=20)[-1]
        assert p95 < 0.5, f"p95 {p95 * 1000:.0f} ms with 30 clients trying passwords"
        assert busy, "the crowd finished before the measurement: make it larger"
    finally:
        srv.stop()


def test_failed_logins_are_limited_per_client(own_home):
    srv = users_server(own_home)
    try:
        for _ in range(5):
            assert wrong_login(srv, "127.0.0.2").status == 401
        limited = wrong_login(srv, "127.0.0.2")
        assert limited.status == 429 and 1 <= int(limited.getheader("Retry-After")) <= 60
        basic = wrong_login(srv, "127.0.0.2", basic=True)  # the same client, through Basic
        assert basic.status == 429 and basic.getheader("Retry-After")
        assert wrong_login(srv, "127.0.0.3").status == 401  # another client is not limited
        login(srv)  # nor is anybody with the right password from elsewhere (127.0.0.1)
    finally:
        srv.stop()


def test_logout_ends_the_session_on_the_server(own_home):
    srv = users_server(own_home)
    try:
        session = login(srv)
        cookie = session.cookies["hg_session"]
        assert session.get(srv.url + "/api/entries").status_code == 200
        r = session.post(srv.url + "/logout", allow_redirects=False)
        assert r.status_code == 303
        kept = requests.get(srv.url + "/api/entries", cookies={"hg_session": cookie}, timeout=10)
        assert kept.status_code == 401  # a copy of the cookie is worth nothing now
        other = login(srv)  # a new login works, and other sessions are untouched
        assert other.get(srv.url + "/api/entries").status_code == 200
    finally:
        srv.stop()


def test_login_limiter_counts_failures_and_attempts_in_flight():
    now = [0.0]
    limiter = LoginLimiter(limit=3, window=60.0, clock=lambda: now[0])
    for _ in range(3):
        limiter.begin("a")  # three at once: the limit is reached before any has failed
    try:
        limiter.begin("a")
        raise AssertionError("a fourth attempt in flight was let through")
    except RateLimited:
        pass
    for _ in range(3):
        limiter.end("a", ok=False)
    now[0] = 30.0
    try:
        limiter.begin("a")
        raise AssertionError("limited for the window")
    except RateLimited as exc:
        assert exc.retry_after == 30
    limiter.begin("b")  # per client
    limiter.end("b", ok=True)
    now[0] = 60.5  # the failures left the window
    limiter.begin("a")
    limiter.end("a", ok=True)  # a success forgets the client's failures
    for _ in range(3):
        limiter.begin("a")
        limiter.end("a", ok=False)
