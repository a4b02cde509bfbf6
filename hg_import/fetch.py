"""`hg-import --fetch URL`: an offline copy of another hg-serve's gallery, with its login.

What comes over (hg-serve's `/api/fetch/…` routes, each under the login's filter, and
`/files/`): the `entry` record of each entry the login may see (hg-extract's contract: the
files with their extracted metas, previews, video, colours, address, ML results), the
previews and web video the app shows, and the event log (tags, people's corrections). The
records go into the local `hg-build` as an import's would, the events into `hg-build events
merge` (the union by event id, replayed in date order: a tag made here survives the next
fetch and a tag made there arrives). Originals stay on the remote (`/originals/` answers
404 "not found on this machine" for them here).

Incremental: the manifest (`[id, updated]` of every visible entry, with an ETag) is
compared with the state of the last fetch (`<home>/fetch/<remote>.json`): only changed
ids' records are asked for, a storage file already present (its name is its content's
checksum) is not downloaded, and events come from the byte offset the last answer gave.
Resumable: each file is written to a temp file beside it and renamed; an entry goes to
hg-build only when all its files are in place; the state is replaced (temp + rename) only
at the end. A killed fetch leaves whole files and whole entries, and the next run asks
again for everything after the last completed state (what is present is not downloaded).

Pure planning in the middle (`plan`, `wanted_files`, `state_entry`, `remove_records`),
HTTP in `Remote`, the programs (hg-build) and files in `run_fetch`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson
import requests

from hg_common import home, layout, ndjson
from hg_common.cli_support import child_env, tool
from hg_common.errors import ConfigError

log = logging.getLogger("hg-import")

STATE_TYPE = "hg/fetch-state"
STATE_VERSION = 1
ID_BATCH = 500  # ids per `/api/fetch/entries` request (the server takes up to 1000)
TIMEOUT = 60.0
CHUNK = 1 << 16
JOBS = 4  # downloads at a time: each waits on the network and the remote's disk


class FetchError(ConfigError):
    """The remote cannot be fetched at all (wrong login, not an hg-serve, unreachable): exit 2,
    nothing written."""


# -- pure ---------------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without credentials or trailing slash, user, password) of `http://u:p@host/`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"--fetch needs an http(s) URL of an hg-serve, not {url!r}")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, user, password


def state_key(url: str, user: str | None) -> str:
    """The state file's name: readable (host, port, path, user) and unique (a digest)."""
    parts = urlsplit(url)
    readable = f"{parts.hostname}-{parts.port or ''}{parts.path}-{user or 'anonymous'}"
    digest = hashlib.blake2b(f"{url}\0{user}".encode(), digest_size=4).hexdigest()
    return f"{readable.strip('/-')}-{digest}"


def plan(manifest: Iterable[list[str]], known: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(ids to ask for: new or changed since the last fetch, ids gone from the remote or
    out of the login's sight: their files are removed here)."""
    remote = {entry_id: updated for entry_id, updated in manifest}
    changed = [i for i, u in remote.items() if (known.get(i) or {}).get("updated") != u]
    gone = [i for i in known if i not in remote]
    return changed, gone


def safe_storage_path(rel: Any) -> bool:
    """A storage path the remote may name: an artefact's name, nothing that leads out."""
    if not isinstance(rel, str) or "\\" in rel or "\0" in rel:
        return False
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return False
    return layout.parse(rel) is not None


def wanted_files(entry: dict[str, Any]) -> list[str]:
    """The storage files the web app shows of an entry: its previews and web video."""
    names = [*(entry.get("previews") or []), *([entry["video"]] if entry.get("video") else [])]
    return list(dict.fromkeys(names))


def state_entry(entry: dict[str, Any], updated: str) -> dict[str, Any]:
    """What the state keeps of a fetched entry: its stamp, and its files to remove it by."""
    files = [
        {k: f.get(k) for k in ("source", "root", "path", "size", "checksum")}
        for f in entry.get("files") or []
    ]
    return {"updated": updated, "files": files}


def remove_records(known: dict[str, Any], gone: Iterable[str]) -> list[dict[str, Any]]:
    """hg-build's `remove` records for the files of entries gone from the remote."""
    return [
        {"type": "remove", "v": 1, **f} for i in gone for f in (known.get(i) or {}).get("files", [])
    ]


def new_state(url: str, user: str | None) -> dict[str, Any]:
    return {"type": STATE_TYPE, "v": STATE_VERSION, "url": url, "user": user, "etag": None,
            "events": {"log": None, "next": 0}, "entries": {}}  # fmt: skip


def read_state(path: Path, url: str, user: str | None) -> dict[str, Any]:
    """The state of the last fetch; a missing or unreadable one is a first fetch."""
    try:
        state = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return new_state(url, user)
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("%s unreadable (%s): fetching everything again", path, exc)
        return new_state(url, user)
    if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
        return new_state(url, user)
    if state.get("v") != STATE_VERSION:
        return new_state(url, user)
    return state


# -- files ----------------------------------------------------------------------------------


# -- HTTP ---------------------------------------------------------------------------------


class MissingFile(Exception):
    """A file the remote would not give (404: gone meanwhile, or outside the login)."""


@dataclass
class Stats:
    requests: int = 0
    received: int = 0  # body bytes, as decoded
    files: int = 0
    file_bytes: int = 0


@dataclass
class Remote:
    url: str
    user: str | None = None
    password: str | None = None
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._local = threading.local()  # a requests.Session per thread (downloads: a pool)
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            if self.user is not None:
                session.auth = (self.user, self.password or "")
            session.headers["Accept-Encoding"] = "gzip"
        return session

    def _count(self, received: int = 0, requests_: int = 0, files: int = 0) -> None:
        with self._lock:
            self.stats.requests += requests_
            self.stats.received += received
            self.stats.files += files
            self.stats.file_bytes += received if files else 0

    def _request(self, method: str, path: str, **kw: Any) -> requests.Response:
        self._count(requests_=1)
        try:
            r = self.session.request(method, self.url + path, timeout=TIMEOUT,
                                     allow_redirects=False, **kw)  # fmt: skip
        except requests.RequestException as exc:
            raise FetchError(f"cannot reach {self.url}: {exc}") from None
        if r.status_code == 401:
            who = f"user {self.user!r}" if self.user else "no login"
            raise FetchError(
                f"{self.url} refused the login ({who}): wrong user or password. Give the "
                "user of its [[server.users]] with --user (password from HG_FETCH_PASSWORD) "
                "or in the URL"
            )
        if r.status_code == 429:
            raise FetchError(f"{self.url}: too many failed logins, try again in a minute")
        return r

    def _ok(self, r: requests.Response, what: str) -> requests.Response:
        if r.status_code == 404 and what == "manifest":
            raise FetchError(
                f"{self.url} has no fetch API (/api/fetch/manifest: 404): is it an hg-serve "
                "of this version, and is the URL its base path?"
            )
        if r.status_code >= 400:
            text = r.text[:200].strip()
            raise FetchError(f"{self.url}: {what} answered {r.status_code}: {text}")
        self._count(received=len(r.content))
        return r

    def manifest(self, etag: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """(the manifest, its ETag); (None, etag) when unchanged since `etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        r = self._ok(self._request("GET", "/api/fetch/manifest", headers=headers), "manifest")
        if r.status_code == 304:
            return None, etag
        try:
            body = orjson.loads(r.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or body.get("type") != "hg/fetch-manifest":
            raise FetchError(f"{self.url} is not an hg-serve (its manifest is not JSON of one)")
        if body.get("v") != 1:
            raise FetchError(f"{self.url} speaks fetch version {body.get('v')!r}; this reads 1")
        return body, r.headers.get("ETag")

    def entries(self, ids: list[str]) -> list[dict[str, Any]]:
        r = self._ok(self._request("POST", "/api/fetch/entries", json={"ids": ids}), "entries")
        return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]

    def events(self, offset: int, stamp: str | None) -> tuple[dict[str, Any], list[bytes]]:
        params = {"from": str(offset), **({"log": stamp} if stamp else {})}
        r = self._ok(self._request("GET", "/api/fetch/events", params=params), "events")
        lines = [line for line in r.content.splitlines() if line.strip()]
        head = orjson.loads(lines[0]) if lines else {}
        if head.get("type") != "hg/fetch-events":
            raise FetchError(f"{self.url}: the events answer has no header")
        return head, lines[1:]

    def download(self, rel: str, target: Path) -> int:
        """One storage file into `target` (temp + rename); its size. MissingFile on 404."""
        r = self._request("GET", "/files/" + rel, stream=True)
        with r:
            if r.status_code == 404:
                raise MissingFile(f"{rel}: not found on the remote")
            if r.status_code >= 400:
                raise MissingFile(f"{rel}: the remote answered {r.status_code}")
            expected = r.headers.get("Content-Length")
            # layout's temp: its mode lets hg-serve (maybe another user) read the file, and
            # the stale-temp sweep knows its name
            with layout.temp_beside(target) as tmp:
                size = 0
                with open(tmp, "wb") as fh:
                    for chunk in r.raw.stream(CHUNK, decode_content=False):
                        fh.write(chunk)
                        size += len(chunk)
                if expected is not None and int(expected) != size:
                    raise MissingFile(f"{rel}: cut short ({size} of {expected} bytes)")
                if size == 0:
                    raise MissingFile(f"{rel}: empty")
        self._count(received=size, files=1)
        return size


# -- the run --------------------------------------------------------------------------------


@dataclass
class Result:
    entries: int = 0
    changed: int = 0
    built: int = 0
    removed: int = 0
    failed: int = 0
    events: int = 0

    def record(self, url: str, stats: Stats) -> dict[str, Any]:
        return {"type": "fetch", "v": 1, "url": url, **self.__dict__,
                "files": stats.files, "file_bytes": stats.file_bytes,
                "requests": stats.requests, "received": stats.received}  # fmt: skip


class Builder:
    """The local hg-build, started on the first record (NDJSON on its stdin)."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.proc: subprocess.Popen | None = None

    def send(self, records: Iterable[dict[str, Any]]) -> None:
        data = b"".join(ndjson.dumps(r) for r in records)
        if not data:
            return
        if self.proc is None:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, env=child_env())  # fmt: skip
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # hg-build died: its exit code says so in close()

    def close(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        code = self.proc.wait()
        if code not in (0, 1):
            raise FetchError(f"hg-build exited {code}: the fetched entries are not all stored")


def fetch_files(remote: Remote, storage: Path, entry: dict[str, Any], swept: Swept) -> list[str]:
    """Download what the entry's web view needs and is not here; the problems (empty: ok)."""
    problems = []
    for rel in wanted_files(entry):
        if not safe_storage_path(rel):
            problems.append(f"{rel!r}: not a storage path")
            continue
        target = storage / rel
        if target.is_file():
            continue  # content-addressed: the same name is the same content
        swept.sweep(target.parent)
        try:
            size = remote.download(rel, target)
            log.debug("fetched %s (%d bytes)", rel, size)
        except MissingFile as exc:
            problems.append(str(exc))
    return problems


class Swept:
    """The storage folders whose stale temp files this run removed (once each)."""

    def __init__(self) -> None:
        self.done: set[Path] = set()
        self.lock = threading.Lock()

    def sweep(self, folder: Path) -> None:
        with self.lock:
            if folder in self.done:
                return
            self.done.add(folder)
        layout.remove_stale_temps(folder)


def batches(items: list[str], n: int) -> Iterator[list[str]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]


def run_fetch(
    url: str,
    user: str | None,
    password: str | None,
    cfg_home: Path,
    storage: Path,
    stage_args: list[str],
    full: bool = False,
    lock: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    jobs: int = JOBS,
) -> tuple[dict[str, Any], int]:
    """Fetch once; (the summary record, exit code: 0, or 1 when some entries failed).
    Nothing is written before the remote accepted the login (FetchError, exit 2); the
    writes happen inside `lock()` (the home's import lock)."""
    clean, url_user, url_password = split_url(url)
    user = user or url_user
    password = password if password is not None else url_password
    remote = Remote(clean, user, password)
    state_path = home.fetch_state(cfg_home, state_key(clean, user))
    state = new_state(clean, user) if full else read_state(state_path, clean, user)
    manifest, etag = remote.manifest(state.get("etag"))
    result = Result(entries=len(state["entries"]))
    if manifest is None:  # 304: nothing changed there since the last complete fetch
        log.info("%s: nothing new", clean)
        return result.record(clean, remote.stats), 0

    with lock():
        if not full:  # another fetch may have finished while we asked: plan from its state
            state = read_state(state_path, clean, user)
        return _fetch(remote, manifest, etag, state, state_path, storage, stage_args, jobs)


def _batch_done(
    records: list[dict[str, Any]],
    answers: Iterable[list[str]],
    stamps: dict[str, str],
    done: dict[str, Any],
    result: Result,
) -> list[dict[str, Any]]:
    """The records whose files are all here (noted in `done`); the others are errors."""
    ready = []
    for rec, problems in zip(records, answers, strict=True):
        rid = rec["id"]
        if problems:
            result.failed += 1
            log.error("entry %s not fetched: %s", rid, "; ".join(problems))
            continue
        ready.append(rec)
        done[rid] = state_entry(rec, stamps[rid])
    return ready


def _fetch(
    remote: Remote,
    manifest: dict[str, Any],
    etag: str | None,
    state: dict[str, Any],
    state_path: Path,
    storage: Path,
    stage_args: list[str],
    jobs: int,
) -> tuple[dict[str, Any], int]:
    clean = remote.url
    result = Result()
    known: dict[str, Any] = state["entries"]
    changed, gone = plan(manifest.get("entries") or [], known)
    stamps = {i: u for i, u in manifest["entries"]}
    result.entries, result.changed = len(stamps), len(changed)
    log.info("%s: %d entries, %d new or changed, %d gone", clean, len(stamps), len(changed),
             len(gone))  # fmt: skip
    build_cmd = [tool("hg-build"), *stage_args]

    # Events first: the build of the entries below imports them with the log.
    cursor = state.get("events") or {}
    new_ids = any(i not in known for i in changed)
    # An entry new to this copy may have edits from before it was visible to the login:
    # read the log from the start then (the union by id makes that harmless).
    offset = 0 if new_ids else int(cursor.get("next") or 0)
    head, lines = remote.events(offset, cursor.get("log"))
    if lines:
        # the remote's lines as they came (hg-build checks them): nothing to encode again
        proc = subprocess.run([tool("hg-build"), "events", "merge", *stage_args],
                              input=b"\n".join(lines) + b"\n", capture_output=True)  # fmt: skip
        if proc.returncode not in (0, 1):
            raise FetchError(f"hg-build events merge failed: {proc.stderr.decode().strip()}")
        merged = [orjson.loads(x) for x in proc.stdout.splitlines() if x.strip()]
        result.events = sum(m.get("added", 0) for m in merged)
    state["events"] = {"log": head.get("log"), "next": head.get("next", 0)}

    builder = Builder(build_cmd)
    # removes first: a file that moved to another entry there is upserted after
    builder.send(remove_records(known, gone))
    result.removed = len(gone)
    swept = Swept()
    done: dict[str, Any] = {}
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="hg-fetch")
    try:
        for ids in batches(changed, ID_BATCH):
            records = [r for r in remote.entries(ids)
                       if r.get("type") == "entry" and r.get("id") in stamps]  # fmt: skip
            answers = pool.map(lambda r: fetch_files(remote, storage, r, swept), records)
            ready = _batch_done(records, answers, stamps, done, result)
            builder.send(ready)
            result.built += len(ready)
            log.info("fetched %d of %d entries (%d files, %.1f MB)", len(done), len(changed),
                     remote.stats.files, remote.stats.file_bytes / 1e6)  # fmt: skip
    finally:
        pool.shutdown(cancel_futures=True)
    missing = len(changed) - len(done) - result.failed
    if missing > 0:  # asked for, not answered: out of sight since the manifest
        log.warning("%d entries were not answered (gone since the manifest)", missing)
    builder.close()

    for i in gone:
        known.pop(i, None)
    known.update(done)
    complete = result.failed == 0 and missing <= 0
    state["etag"] = etag if complete else None  # else: the next fetch compares again
    layout.write_atomic(state_path, orjson.dumps(state), durable=True)
    result.entries = len(known)
    return result.record(clean, remote.stats), (0 if complete else 1)
