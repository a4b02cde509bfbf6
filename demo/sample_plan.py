"""What the demo's sample archive holds, as plain data: no I/O, same seed -> same plan.

The plan is the single source of truth for the generator (which draws and tags the files)
and for its test (which reads the files back with exiftool and compares), so the two cannot
drift apart. Every photo carries what a camera or phone would write: local capture time with
its UTC offset, sub-seconds, camera and lens, exposure, and GPS for the events abroad.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

SEED = 20150714
PLAN_VERSION = 1
MARKER = ".hg-sample.json"
"""Written last into the archive: its presence means the archive is complete."""


@dataclass(frozen=True)
class Camera:
    make: str
    model: str
    lens: str | None
    name: str
    """File name pattern: `{n}` a running number, `{t}` the local capture time."""
    focal: tuple[float, ...]


CANON = Camera(
    "Canon",
    "Canon EOS 5D Mark III",
    "EF24-105mm f/4L IS USM",
    "IMG_{n:04d}.JPG",
    (24, 35, 50, 70, 105),
)
FUJI = Camera("FUJIFILM", "X-T2", "XF18-55mmF2.8-4 R LM OIS", "DSCF{n:04d}.JPG", (18, 23, 35, 55))
NIKON = Camera(
    "NIKON CORPORATION", "NIKON D750", "24.0-120.0 mm f/4.0", "DSC_{n:04d}.JPG", (24, 50, 85, 120)
)
SONY = Camera("SONY", "ILCE-7M3", "FE 28-70mm F3.5-5.6 OSS", "DSC{n:05d}.JPG", (28, 45, 70))
IPHONE = Camera(
    "Apple", "iPhone 13", "iPhone 13 back dual wide camera 5.1mm f/1.6", "IMG_{n:04d}.JPG", (5.1,)
)
IPHONE_6S = Camera(
    "Apple", "iPhone 6s", "iPhone 6s back camera 4.15mm f/2.2", "IMG_{n:04d}.JPG", (4.15,)
)
SAMSUNG = Camera("samsung", "SM-G991B", None, "{t:%Y%m%d_%H%M%S}.jpg", (5.4,))
PIXEL = Camera("Google", "Pixel 6", None, "PXL_{t:%Y%m%d_%H%M%S}{n:03d}.jpg", (6.81,))
CANON_R5 = Camera("Canon", "Canon EOS R5", "RF24-70mm F2.8 L IS USM", "IMG_{n:04d}.JPG", (24, 50))


@dataclass(frozen=True)
class Event:
    folder: str
    title: str
    start: datetime
    """Local time of the first photo, with its UTC offset."""
    camera: Camera
    count: int
    first_number: int
    place: tuple[float, float, float] | None = None
    """(latitude, longitude, altitude m) or None: no GPS."""
    country: str | None = None


def _tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


EVENTS = (
    Event(
        "2015/2015-07 Paris",
        "Paris",
        datetime(2015, 7, 14, 10, 5, tzinfo=_tz(2)),
        CANON,
        5,
        1,
        (48.8584, 2.2945, 35.0),
        "France",
    ),
    Event(
        "2016/2016-12 Christmas",
        "Christmas",
        datetime(2016, 12, 24, 17, 30, tzinfo=_tz(1)),
        IPHONE_6S,
        4,
        2410,
    ),
    Event(
        "2017/2017-03 Kyoto",
        "Kyoto",
        datetime(2017, 3, 30, 9, 15, tzinfo=_tz(9)),
        FUJI,
        5,
        3301,
        (34.9671, 135.7727, 60.0),
        "Japan",
    ),
    Event(
        "2018/2018-05 Zürich",
        "Zürich",
        datetime(2018, 5, 19, 14, 0, tzinfo=_tz(2)),
        NIKON,
        4,
        2,
        (47.3769, 8.5417, 408.0),
        "Switzerland",
    ),
    Event(
        "2019/2019-09 New York",
        "New York",
        datetime(2019, 9, 21, 11, 45, tzinfo=_tz(-4)),
        SONY,
        5,
        1201,
        (40.7580, -73.9855, 12.0),
        "United States",
    ),
    Event("2020/Phone backup", "Phone", datetime(2020, 4, 12, 8, 20, tzinfo=_tz(2)), SAMSUNG, 2, 1),
    Event(
        "2021/2021-02 Cape Town",
        "Cape Town",
        datetime(2021, 2, 14, 16, 10, tzinfo=_tz(2)),
        SAMSUNG,
        4,
        1,
        (-33.9249, 18.4241, 25.0),
        "South Africa",
    ),
    Event(
        "2022/2022-06 Sydney",
        "Sydney",
        datetime(2022, 6, 12, 13, 15, tzinfo=_tz(10)),
        PIXEL,
        4,
        1,
        (-33.8568, 151.2153, 5.0),
        "Australia",
    ),
    Event(
        "2023/2023-08 Lisbon",
        "Lisbon",
        datetime(2023, 8, 12, 18, 0, tzinfo=_tz(1)),
        IPHONE,
        4,
        5120,
        (38.7078, -9.1366, 80.0),
        "Portugal",
    ),
    Event(
        "2024/2024-01 Reykjavik",
        "Reykjavik",
        datetime(2024, 1, 6, 12, 0, tzinfo=_tz(0)),
        CANON_R5,
        4,
        9001,
        (64.1466, -21.9426, 20.0),
        "Iceland",
    ),
)

LANDSCAPE_SIZES = ((640, 480), (800, 600), (1024, 683), (960, 540), (1200, 800))
PORTRAIT_SIZES = ((480, 640), (600, 800), (540, 960))
BIG_SIZE = (4000, 3000)
"""One 12 MP photo, so previews have something to scale down."""
ORIENTATIONS = {
    ("2015/2015-07 Paris", 3): 6,
    ("2017/2017-03 Kyoto", 2): 8,
    ("2023/2023-08 Lisbon", 1): 6,
    ("2019/2019-09 New York", 4): 3,
}
"""(event folder, photo index) -> EXIF Orientation; all others are 1."""
BIG = ("2024/2024-01 Reykjavik", 0)
NON_ASCII = ("2018/2018-05 Zürich", 3, "Grüezi Zürich – Café 東京.jpg")


@dataclass(frozen=True)
class Photo:
    path: str
    label: str
    size: tuple[int, int]
    """Displayed (upright) width and height; stored pixels are rotated for orientation 6/8."""
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    taken: datetime | None
    subsec: str = "000"
    orientation: int = 1
    camera: Camera | None = None
    iso: int = 100
    exposure: str = "1/125"
    fnumber: float = 4.0
    focal: float = 50.0
    gps: tuple[float, float, float] | None = None
    country: str | None = None
    shapes: int = 5
    tags: dict[str, str] = field(default_factory=dict)
    """Extra exiftool assignments (`-TAG=value`) beyond the camera ones."""

    @property
    def offset(self) -> str | None:
        """The UTC offset as EXIF writes it: `+02:00`."""
        if self.taken is None:
            return None
        z = self.taken.strftime("%z")
        return f"{z[:3]}:{z[3:]}"


def _color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(30, 230), rng.randrange(30, 230), rng.randrange(30, 230))


def _jitter(rng: random.Random, place: tuple[float, float, float]) -> tuple[float, float, float]:
    lat, lon, alt = place
    return (
        round(lat + rng.uniform(-0.004, 0.004), 6),
        round(lon + rng.uniform(-0.004, 0.004), 6),
        round(alt + rng.uniform(0, 15), 1),
    )


def plan_photos(seed: int = SEED) -> list[Photo]:
    """Every JPEG photo of the archive, event by event, in capture order."""
    rng = random.Random(seed)
    photos = []
    for event in EVENTS:
        taken = event.start
        for i in range(event.count):
            cam = event.camera
            orientation = ORIENTATIONS.get((event.folder, i), 1)
            if (event.folder, i) == BIG:
                size = BIG_SIZE
            elif orientation in (6, 8) or rng.random() < 0.25:
                size = rng.choice(PORTRAIT_SIZES)
            else:
                size = rng.choice(LANDSCAPE_SIZES)
            name = cam.name.format(n=event.first_number + i, t=taken)
            if (event.folder, i) == NON_ASCII[:2]:
                name = NON_ASCII[2]
            photos.append(
                Photo(
                    path=f"{event.folder}/{name}",
                    label=f"{event.title} #{i + 1}",
                    size=size,
                    colors=(_color(rng), _color(rng)),
                    taken=taken,
                    subsec=f"{rng.randrange(1000):03d}",
                    orientation=orientation,
                    camera=cam,
                    iso=rng.choice((100, 200, 400, 800, 1600, 3200)),
                    exposure=rng.choice(("1/30", "1/60", "1/125", "1/250", "1/1000", "2")),
                    fnumber=rng.choice((1.8, 2.8, 4.0, 5.6, 8.0)),
                    focal=rng.choice(cam.focal),
                    gps=_jitter(rng, event.place) if event.place else None,
                    country=event.country,
                    shapes=rng.randrange(3, 9),
                )
            )
            taken += timedelta(minutes=rng.randrange(2, 90), seconds=rng.randrange(60))
    return photos


def raw_pair_photo() -> Photo:
    """The camera JPEG beside the raw stand-in, taken just before the Zürich event."""
    event = next(e for e in EVENTS if e.camera is NIKON)
    return Photo(
        RAW_PAIR[1],
        "Zürich RAW+JPEG",
        (900, 600),
        ((30, 90, 160), (230, 230, 250)),
        event.start - timedelta(minutes=5),
        subsec="250",
        camera=NIKON,
        iso=200,
        exposure="1/500",
        fnumber=8.0,
        focal=24,
        gps=event.place,
        country=event.country,
    )


def scanned_photo() -> Photo:
    """An old print scanned without any EXIF: hg must fall back to the file's own dates."""
    return Photo(
        "2016/Scans/scan_1987_beach.jpg",
        "Scan 1987",
        (900, 600),
        ((210, 180, 120), (90, 60, 40)),
        None,
        camera=None,
    )


def nomedia_thumbnails() -> list[Photo]:
    """Thumbnails in a folder with `.nomedia`: hg-index must skip the folder."""
    return [
        Photo(
            f"2020/Phone backup/.thumbnails/thumb_{n}.jpg",
            f"thumb {n}",
            (96, 96),
            ((128, 128, 128), (60, 60, 60)),
            None,
        )
        for n in (1, 2)
    ]


XMP_SIDECARS = {
    "2024/2024-01 Reykjavik/IMG_9001.JPG.xmp": {
        "XMP-dc:Subject": ["iceland", "church", "winter"],
        "XMP-lr:HierarchicalSubject": ["Places|Iceland|Reykjavik", "Buildings|Church"],
        "XMP-digiKam:TagsList": ["Places/Iceland/Reykjavik", "Buildings/Church"],
        "XMP-dc:Description": "Hallgrímskirkja in the snow",
        "XMP-dc:Title": "Winter light",
        "XMP-xmp:Rating": "5",
    },
    "2015/2015-07 Paris/IMG_0003.xmp": {
        "XMP-dc:Subject": ["paris", "fireworks"],
        "XMP-dc:Description": "Bastille Day",
        "XMP-xmp:Rating": "4",
    },
}
"""Sidecars in both naming styles: darktable `NAME.EXT.xmp` and Lightroom `NAME.xmp`."""

RAW_PAIR = ("2018/2018-05 Zürich/DSC_0001.NEF", "2018/2018-05 Zürich/DSC_0001.JPG")
"""A raw stand-in: a small RGB TIFF with Nikon EXIF named .NEF (exiftool reports file type
NEF), beside the camera's JPEG. It is not real sensor data: it tests grouping and the
raw-plus-JPEG preview path, not a raw decoder."""

PNG = Photo(
    "2019/Screenshots/Screenshot 2019-09-21 at 21.14.03.png",
    "Screenshot",
    (540, 1170),
    ((240, 240, 245), (40, 120, 220)),
    datetime(2019, 9, 21, 21, 14, 3, tzinfo=_tz(-4)),
)

VIDEO = Photo(
    "2023/2023-08 Lisbon/VID_20230812_183000.mp4",
    "Lisbon video",
    (320, 240),
    ((0, 0, 0), (0, 0, 0)),
    datetime(2023, 8, 12, 18, 30, tzinfo=_tz(1)),
    camera=IPHONE,
    gps=(38.7078, -9.1366, 80.0),
    country="Portugal",
)
VIDEO_SECONDS = 2.5


def utc(taken: datetime) -> datetime:
    return taken.astimezone(UTC)
