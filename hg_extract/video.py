"""Videos: ffprobe JSON, a poster frame and a web-friendly H.264/AAC MP4 (ffmpeg-python).

ffmpeg-python builds the command lines; they run through `subprocess.run` with a timeout, so a
hanging ffmpeg costs only its file, and end with the worker that started them (`procs`): a
killed run leaves none behind. ffmpeg rotates frames by the display matrix while decoding
(autorotate), so portrait phone videos come out upright and without a rotation tag.
The MP4 is at most 720 px high (never upscaled), yuv420p, `+faststart`, bitrate-capped as
HomeGallery's (4000k max, 8000k buffer), 30 fps at most.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import ffmpeg
import orjson

from hg_extract.procs import dies_with_me

PROBE_TIMEOUT = 60.0
POSTER_TIMEOUT = 120.0
HEIGHT = 720


class VideoError(Exception):
    """A video step failed; the message is the record's error sentence."""


def _run(args: list[str], timeout: float, what: str) -> bytes:
    try:
        proc = subprocess.run(
            args, capture_output=True, timeout=timeout, check=False, preexec_fn=dies_with_me()
        )
    except subprocess.TimeoutExpired:
        raise VideoError(f"{what} timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VideoError(f"{what} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return proc.stdout


def probe(path: str, timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """ffprobe's format and streams as JSON (what HomeGallery stores as ffprobe.json)."""
    out = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            path,
        ],
        timeout,
        "ffprobe",
    )
    data = orjson.loads(out or b"{}")
    if not any(s.get("codec_type") == "video" for s in data.get("streams", [])):
        raise VideoError("ffprobe found no video stream")
    return data


def duration(info: dict[str, Any]) -> float:
    try:
        return float(info.get("format", {}).get("duration") or 0)
    except ValueError:
        return 0.0


def poster(path: str, out: Path, seconds: float, timeout: float = POSTER_TIMEOUT) -> None:
    """One frame as JPEG at full size, upright; from `seconds` in, else the first frame."""
    for at in (seconds, 0.0) if seconds > 0 else (0.0,):
        args = (
            ffmpeg.input(path, ss=at)
            .output(str(out), vframes=1, format="image2", vcodec="mjpeg", **{"q:v": 2})
            .overwrite_output()
            .compile()
        )
        _run([*args[:1], "-v", "error", "-nostdin", *args[1:]], timeout, "ffmpeg poster")
        if out.stat().st_size > 0:
            return
    raise VideoError("ffmpeg produced no poster frame")


def transcode_args(path: str, out: Path, height: int = HEIGHT) -> list[str]:
    """The ffmpeg command line for the web MP4 (kept separate so tests can read it)."""
    args = (
        ffmpeg.input(path)
        .output(
            str(out),
            format="mp4",
            vcodec="libx264",
            acodec="aac",
            vf=f"scale=-2:'min({height},trunc(ih/2)*2)',format=yuv420p,fps=fps='min(30,source_fps)'",
            preset="fast",
            crf=23,
            maxrate="4000k",
            bufsize="8000k",
            movflags="+faststart",
            **{"profile:v": "high", "b:a": "128k", "ac": 2},
        )
        .overwrite_output()
        .compile()
    )
    return [*args[:1], "-v", "error", "-nostdin", *args[1:]]


def transcode(path: str, out: Path, timeout: float) -> None:
    _run(transcode_args(path, out), timeout, "ffmpeg transcode")
