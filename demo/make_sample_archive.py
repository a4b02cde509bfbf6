#!/usr/bin/env python3
"""Generate the demo's sample archive: `make_sample_archive.py OUTDIR`.

Photos are drawn with Pillow (a gradient, shapes and a large label saying what the photo is,
with "TOP" at its upper edge so a wrong rotation shows), then stamped with real EXIF/XMP by
one exiftool process; the video is made by ffmpeg. What goes where is decided by
`sample_plan` (pure, seeded), which also ends up in the archive as the marker file.

Idempotent and atomic: everything is written into a temp folder beside OUTDIR that is renamed
to OUTDIR at the end, so OUTDIR either holds a complete archive (with the marker written
last) or does not exist. A complete OUTDIR is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import sample_plan as plan
from PIL import Image, ImageDraw, ImageFont
from sample_plan import Photo

ROTATE_FOR = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
"""How to store upright pixels so that a viewer applying the EXIF orientation shows them
upright again (the inverse of what `ImageOps.exif_transpose` does)."""
PHONES = (plan.IPHONE, plan.IPHONE_6S, plan.SAMSUNG, plan.PIXEL)


def draw(photo: Photo) -> Image.Image:
    """The upright picture: diagonal gradient, a few shapes, the label and a TOP marker."""
    w, h = photo.size
    (r0, g0, b0), (r1, g1, b1) = photo.colors
    t = (np.linspace(0, 1, w)[None, :] + np.linspace(0, 1, h)[:, None]) / 2
    pixels = np.stack([a + (b - a) * t for a, b in ((r0, r1), (g0, g1), (b0, b1))], axis=-1)
    img = Image.fromarray(pixels.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    unit = min(w, h)
    for i in range(photo.shapes):
        # positions from the photo's own numbers: deterministic without a shared RNG
        x = (i * 0.37 + photo.colors[0][0] / 255) % 1 * w
        y = (i * 0.61 + photo.colors[1][1] / 255) % 1 * h
        r = unit * (0.05 + 0.03 * (i % 4))
        fill = photo.colors[(i + 1) % 2][::-1]
        box = (x - r, y - r, x + r, y + r)
        (d.ellipse if i % 2 else d.rectangle)(box, fill=fill, outline=(255, 255, 255), width=3)
    font = ImageFont.load_default(size=max(12, unit // 9))
    small = ImageFont.load_default(size=max(10, unit // 20))
    # the built-in font has ASCII only: "Zürich" is drawn as "Zurich"
    label = unicodedata.normalize("NFKD", photo.label).encode("ascii", "ignore").decode()
    lines = [label, photo.taken.strftime("%Y-%m-%d %H:%M") if photo.taken else "no date"]
    d.text(
        (w / 2, h / 2),
        "\n".join(lines),
        font=font,
        anchor="mm",
        align="center",
        fill=(255, 255, 255),
        stroke_width=max(1, unit // 150),
        stroke_fill=(0, 0, 0),
    )
    d.text(
        (w / 2, unit // 40),
        "TOP",
        font=small,
        anchor="ma",
        fill=(255, 255, 255),
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    return img


def camera_args(photo: Photo) -> list[str]:
    """exiftool assignments for what a camera writes into a JPEG."""
    args: list[str] = []
    cam = photo.camera
    if cam is not None:
        args += [f"-EXIF:Make={cam.make}", f"-EXIF:Model={cam.model}"]
        args += [f"-EXIF:LensModel={cam.lens}"] if cam.lens else []
        args += [
            f"-EXIF:ISO={photo.iso}",
            f"-EXIF:ExposureTime={photo.exposure}",
            f"-EXIF:FNumber={photo.fnumber}",
            f"-EXIF:FocalLength={photo.focal}",
            f"-EXIF:Orientation#={photo.orientation}",
        ]
    if photo.taken is not None:
        stamp = photo.taken.strftime("%Y:%m:%d %H:%M:%S")
        for tag in ("DateTimeOriginal", "CreateDate", "ModifyDate"):
            args.append(f"-EXIF:{tag}={stamp}")
        for tag in ("OffsetTime", "OffsetTimeOriginal", "OffsetTimeDigitized"):
            args.append(f"-EXIF:{tag}={photo.offset}")
        args += [
            f"-EXIF:SubSecTimeOriginal={photo.subsec}",
            f"-EXIF:SubSecTimeDigitized={photo.subsec}",
        ]
    if photo.gps is not None:
        lat, lon, alt = photo.gps
        args += [
            f"-GPSLatitude={abs(lat)}",
            f"-GPSLatitudeRef={'N' if lat >= 0 else 'S'}",
            f"-GPSLongitude={abs(lon)}",
            f"-GPSLongitudeRef={'E' if lon >= 0 else 'W'}",
            f"-GPSAltitude={alt}",
            "-GPSAltitudeRef#=0",
        ]
        if photo.taken is not None and cam in PHONES:
            utc = plan.utc(photo.taken)  # phones also stamp the satellite time, in UTC
            args += [f"-GPSDateStamp={utc:%Y:%m:%d}", f"-GPSTimeStamp={utc:%H:%M:%S}"]
    return args


def save_jpeg(photo: Photo, root: Path, argfile: list[str]) -> None:
    path = root / photo.path
    path.parent.mkdir(parents=True, exist_ok=True)
    img = draw(photo)
    if photo.orientation in ROTATE_FOR:
        img = img.transpose(ROTATE_FOR[photo.orientation])
    img.save(path, "JPEG", quality=88)
    if photo.camera is not None or photo.taken is not None:
        argfile += camera_args(photo) + [str(path), "-execute"]


def save_raw_pair(root: Path, argfile: list[str]) -> None:
    """The JPEG as any photo; the .NEF stand-in as a small RGB TIFF with the same EXIF."""
    photo = plan.raw_pair_photo()
    save_jpeg(photo, root, argfile)
    raw = root / plan.RAW_PAIR[0]
    draw(photo).resize((photo.size[0] // 4, photo.size[1] // 4)).save(raw, "TIFF")
    argfile += camera_args(photo) + [str(raw), "-execute"]


def save_png(root: Path, argfile: list[str]) -> None:
    photo = plan.PNG
    path = root / photo.path
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(photo).save(path, "PNG")
    stamp = photo.taken.strftime("%Y:%m:%d %H:%M:%S")
    argfile += [
        f"-EXIF:DateTimeOriginal={stamp}",
        f"-EXIF:OffsetTimeOriginal={photo.offset}",
        "-XMP-exif:UserComment=Screenshot",
        str(path),
        "-execute",
    ]


def save_xmp_sidecars(root: Path, argfile: list[str]) -> None:
    """exiftool creates an .xmp file from scratch when it does not exist."""
    for rel, tags in plan.XMP_SIDECARS.items():
        for tag, value in tags.items():
            argfile += [f"-{tag}={v}" for v in ([value] if isinstance(value, str) else value)]
        argfile += [str(root / rel), "-execute"]


def save_video(root: Path, argfile: list[str]) -> None:
    """testsrc + a sine tone; ffmpeg writes the 3GPP location and the UTC creation time, exiftool
    adds what an iPhone writes (Keys GPS and local creation date with offset)."""
    v = plan.VIDEO
    path = root / v.path
    lat, lon, alt = v.gps
    w, h = v.size
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={w}x{h}:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        str(plan.VIDEO_SECONDS),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-shortest",
        "-metadata",
        f"location={lat:+08.4f}{lon:+09.4f}/",
        "-metadata",
        f"creation_time={plan.utc(v.taken):%Y-%m-%dT%H:%M:%SZ}",
        "-fflags",
        "+bitexact",
        str(path),
    ]
    subprocess.run(cmd, check=True)
    argfile += [
        f"-Keys:GPSCoordinates={lat}, {lon}, {alt}",
        f"-Keys:CreationDate={v.taken:%Y:%m:%d %H:%M:%S}{v.offset}",
        f"-Keys:Make={v.camera.make}",
        f"-Keys:Model={v.camera.model}",
        str(path),
        "-execute",
    ]


def run_exiftool(argfile: list[str], workdir: Path) -> None:
    """One exiftool process for every file (`-execute` between files): seconds, not minutes."""
    args_path = workdir / "exiftool-args.txt"
    args_path.write_text("\n".join(argfile) + "\n", encoding="utf-8")
    try:
        cmd = ["exiftool", "-@", str(args_path), "-common_args", "-overwrite_original", "-q", "-q"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    finally:
        args_path.unlink()


def set_mtimes(root: Path, photos: list[Photo]) -> None:
    """File times as a camera card would have them: the capture time (a fixed one when none)."""
    fallback = 1456790400  # 2016-03-01, the day of the scan
    for photo in photos:
        t = plan.utc(photo.taken).timestamp() if photo.taken else fallback
        os.utime(root / photo.path, (t, t))


def manifest(photos: list[Photo]) -> dict:
    def describe(p: Photo) -> dict:
        return {
            "path": p.path,
            "taken": p.taken.strftime("%Y:%m:%d %H:%M:%S") if p.taken else None,
            "offset": p.offset,
            "subsec": p.subsec if p.taken else None,
            "orientation": p.orientation,
            "make": p.camera.make if p.camera else None,
            "model": p.camera.model if p.camera else None,
            "gps": list(p.gps) if p.gps else None,
            "country": p.country,
            "upright_size": list(p.size),
        }

    return {
        "type": "hg/sample-archive",
        "version": plan.PLAN_VERSION,
        "seed": plan.SEED,
        "photos": [describe(p) for p in photos],
        "png": describe(plan.PNG),
        "video": {**describe(plan.VIDEO), "seconds": plan.VIDEO_SECONDS},
        "raw_pair": list(plan.RAW_PAIR),
        "xmp_sidecars": plan.XMP_SIDECARS,
        "skipped": [p.path for p in plan.nomedia_thumbnails()]
        + [str(Path(plan.nomedia_thumbnails()[0].path).parent / ".nomedia")],
    }


def generate(root: Path) -> None:
    photos = plan.plan_photos() + [plan.scanned_photo()]
    argfile: list[str] = []
    for photo in photos + plan.nomedia_thumbnails():
        save_jpeg(photo, root, argfile)
    (root / Path(plan.nomedia_thumbnails()[0].path).parent / ".nomedia").touch()
    save_raw_pair(root, argfile)
    save_png(root, argfile)
    save_xmp_sidecars(root, argfile)
    save_video(root, argfile)
    run_exiftool(argfile, root)
    jpegs = photos + [plan.raw_pair_photo()]
    set_mtimes(root, jpegs + [plan.PNG, plan.VIDEO] + plan.nomedia_thumbnails())
    shutil.copystat(root / plan.RAW_PAIR[1], root / plan.RAW_PAIR[0])
    (root / plan.MARKER).write_text(
        json.dumps(manifest(jpegs), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="where the archive goes (created)")
    args = parser.parse_args(argv)
    out: Path = args.outdir.absolute()
    if (out / plan.MARKER).is_file():
        made = json.loads((out / plan.MARKER).read_text(encoding="utf-8")).get("version")
        hint = "" if made == plan.PLAN_VERSION else " (by an older plan: remove it to renew)"
        print(f"make_sample_archive: {out} is already complete{hint}", file=sys.stderr)
        return 0
    if out.exists() and any(out.iterdir()):
        print(f"make_sample_archive: {out} exists and is not a sample archive", file=sys.stderr)
        return 2
    for tool in ("exiftool", "ffmpeg"):
        if shutil.which(tool) is None:
            print(
                f"make_sample_archive: {tool} not found (run bin/install-system-deps)",
                file=sys.stderr,
            )
            return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted run
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        generate(tmp)
        os.chmod(tmp, 0o755)
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(
        f"make_sample_archive: {files} files in {out} ({time.monotonic() - started:.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
