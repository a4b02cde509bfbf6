"""The scanner's handling of files that change under it (things the CLI cannot stage)."""

from hg_common.progress import Progress
from hg_index.scan import Failure, Scanner, ScanOptions
from hg_index.walk import FileStat


def test_vanished_and_present_files(tmp_path):
    (tmp_path / "here.jpg").write_bytes(b"here")
    scanner = Scanner(ScanOptions(jobs=2), Progress("index", "off"))
    try:
        result = scanner._hash(
            str(tmp_path), "", [FileStat("gone.jpg", 5, 1, 1), FileStat("here.jpg", 4, 1, 2)]
        )
    finally:
        scanner.close()
    assert result["gone.jpg"] == Failure("vanished during the scan")
    assert isinstance(result["here.jpg"], str) and len(result["here.jpg"]) == 64
    assert scanner.summary.hashed_bytes == 4
