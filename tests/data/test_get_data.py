"""scripts/get_data.py end to end against a local HTTP server: download (with resume, retries and timeouts), RAR/ZIP
unpacking through the real UnRAR library, layout verification and the completion marker, and every failure as one
line with exit code 1. The archives are tiny ones in the official layouts (tests/data/archive_fixtures.py); no test
reaches beyond 127.0.0.1 (any other connection, or a DNS look-up, fails the test)."""

from __future__ import annotations

import errno
import json
import socket
import sys
import time
from pathlib import Path

import pytest

from har_vib.data import download as download_module
from har_vib.data import unpack as unpack_module
from har_vib.data.archives import BASE_URL_ENV, DATASETS, Archive, CorruptArchiveError, archive_url
from har_vib.data.fetch import MARKER
from har_vib.data.splits import DatasetLayoutError, parse_hmdb51, parse_ucf11, parse_ucf101
from har_vib.data.unpack import extract_rar, extract_zip, member_path
from tests.conftest import ROOT
from tests.data.archive_fixtures import (
    ArchiveServer,
    corrupt_member,
    hmdb51_dataset,
    rar_archive,
    ucf11_dataset,
    ucf101_dataset,
    zip_archive,
)

sys.path.insert(0, str(ROOT / "scripts"))
import get_data  # noqa: E402

RAR = "UCF101.rar"
ZIP = "UCF101TrainTestSplits-RecognitionTask.zip"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any connection or name look-up beyond this machine: the official URLs must never be reached."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a test tried to reach {address}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1", "localhost", None):
            raise AssertionError(f"a test tried to look up {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)


def run(dataset: str, root: Path, *extra: str, base_url: str | None = None, ds=None) -> int:
    """get_data.main in-process, with the tiny dataset's counts, no progress bar and no waiting between retries."""
    args = [dataset, "--root", str(root), "--no-progress", "--backoff", "0"]
    if base_url is not None:
        args += ["--base-url", base_url]
    if ds is not None:
        args += ["--expect-classes", str(len(ds.classes)), "--expect-videos", str(len(ds.videos))]
        if ds.groups:
            args += ["--expect-groups", str(ds.groups)]
    return get_data.main([*args, *extra])


def error_line(capsys) -> str:
    """The one error line on stderr (checked to be one line, with no traceback)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("get_data.py: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


def assert_videos(video_dir: Path, ds) -> None:
    for rel, data in ds.videos.items():
        assert (video_dir / rel).read_bytes() == data, rel


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".tmp-"))


def test_ucf101_is_downloaded_unpacked_verified_and_marked(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
    assert_videos(root / "UCF-101", ds)
    split = parse_ucf101(root / "UCF-101", root / "ucfTrainTestlist", 1)
    assert split.classes == ds.classes and len(split.all_records()) == len(ds.videos)
    marker = json.loads((root / MARKER).read_text())
    assert marker["complete"] is True
    assert marker["verified"]["videos"] == len(ds.videos) and marker["verified"]["classes"] == 2
    assert set(marker["verified"]["splits"]) == {"1", "2", "3"}
    assert marker["archives"][RAR]["bytes"] == len(ds.files[RAR])
    assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]  # kept unless --delete-archives
    assert not leftovers(root) and not list((root / "archives").glob("*.part*"))
    assert "2 classes, 12 videos verified" in capsys.readouterr().out


def test_a_rerun_after_success_downloads_nothing_and_says_so(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        capsys.readouterr()
        seen = len(server.state.requests)
        assert seen == 2
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert len(server.state.requests) == seen  # not one request
    out = capsys.readouterr().out
    assert "already complete" in out and "nothing to download" in out and MARKER in out


def test_hmdb51_nested_class_rars_are_unpacked_into_videos(tmp_path):
    ds = hmdb51_dataset()
    root = tmp_path / "hmdb51"
    with ArchiveServer(ds.files) as server:
        assert run("hmdb51", root, "--delete-archives", base_url=server.url, ds=ds) == 0
    assert not (root / "archives").exists()  # --delete-archives, once verified
    assert_videos(root / "videos", ds)
    assert not list((root / "videos").rglob("*.rar"))  # the inner archives are not left in the layout
    for k in (1, 2, 3):
        split = parse_hmdb51(root / "videos", root / "testTrainMulti_7030_splits", k)
        assert split.classes == ds.classes and len(split.train) == 4 and len(split.test) == 2
    assert (root / MARKER).is_file()


def test_ucf11_from_a_mirror_folder(tmp_path):
    """--base-url may be a plain folder (a mounted mirror): copied through file:// with the same checks."""
    ds = ucf11_dataset()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, data in ds.files.items():
        (mirror / name).write_bytes(data)
    root = tmp_path / "ucf11"
    assert run("ucf11", root, base_url=str(mirror), ds=ds) == 0
    assert_videos(root / "UCF11_updated_mpg", ds)
    split = parse_ucf11(root / "UCF11_updated_mpg", fold=1)
    assert sorted(split.classes) == ds.classes and len(split.test) == 4
    assert json.loads((root / MARKER).read_text())["verified"]["groups"] == {"basketball": 2, "biking": 2}


def test_the_environment_variable_points_every_archive_at_the_mirror(tmp_path, monkeypatch):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        assert run("ucf101", root, ds=ds) == 0  # no --base-url
        assert sorted(r.path for r in server.state.requests) == sorted(["/" + RAR, "/" + ZIP])


def test_base_url_appends_the_archive_name():
    archive = DATASETS["ucf101"].archives[0]
    assert archive_url(archive) == "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar"
    assert archive_url(archive, "http://m.example/har") == "http://m.example/har/UCF101.rar"
    assert archive_url(archive, "http://m.example/har/") == "http://m.example/har/UCF101.rar"
    assert archive_url(archive, "/srv/mirror").startswith("file:///") and archive_url(archive, "/srv/mirror").endswith(
        "/srv/mirror/UCF101.rar"
    )


def test_a_transfer_cut_halfway_resumes_with_range_on_rerun(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    half = len(ds.files[RAR]) // 2
    part = root / "archives" / (RAR + ".part")
    with ArchiveServer(ds.files) as server:
        server.state.cut_after[RAR] = half
        assert run("ucf101", root, "--retries", "0", base_url=server.url, ds=ds) == 1
        line = error_line(capsys)
        assert "127.0.0.1" in line and RAR in line and "rerun to resume" in line
        assert part.read_bytes() == ds.files[RAR][:half]  # what came is kept, byte for byte
        assert not (root / "archives" / RAR).exists() and not (root / MARKER).exists()

        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        resumed = server.state.seen(RAR)[-1]
        assert resumed.range == f"bytes={half}-"
        assert resumed.if_range == server.state.etag(RAR)
    assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]
    assert not part.exists()
    assert_videos(root / "UCF-101", ds)


def test_a_broken_transfer_is_retried_and_resumed_in_the_same_run(tmp_path, caplog):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    third = len(ds.files[RAR]) // 3
    with ArchiveServer(ds.files) as server:
        server.state.cut_after[RAR] = third
        assert run("ucf101", root, "--retries", "1", base_url=server.url, ds=ds) == 0
        ranges = [r.range for r in server.state.seen(RAR)]
    assert ranges == [None, f"bytes={third}-"]
    assert "retry 1 of 1" in caplog.text
    assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]


def test_a_server_that_ignores_range_restarts_the_file(tmp_path, capsys, caplog):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        server.state.cut_after[RAR] = 100
        assert run("ucf101", root, "--retries", "0", base_url=server.url, ds=ds) == 1
        server.state.ignore_range = True
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert server.state.seen(RAR)[-1].range == "bytes=100-"  # asked for the rest, got the whole file
    assert "starting over" in caplog.text
    assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]


def test_a_file_that_changed_size_on_the_server_is_refused_and_the_part_kept(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    part = root / "archives" / (RAR + ".part")
    with ArchiveServer(ds.files) as server:
        server.state.validators = False  # no ETag: nothing tells the server the client's copy is older
        server.state.cut_after[RAR] = 200
        assert run("ucf101", root, "--retries", "0", base_url=server.url, ds=ds) == 1
        capsys.readouterr()
        server.state.files[RAR] = ds.files[RAR] + b"\0" * 10
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
    line = error_line(capsys)
    new, old = len(ds.files[RAR]) + 10, len(ds.files[RAR])
    assert f"is now {new:,} bytes" in line and f"begun for {old:,}" in line and f"delete {part}" in line
    assert part.stat().st_size == 200


def test_a_part_longer_than_the_file_is_refused(tmp_path, capsys):
    """No record of the total (a .part from elsewhere): the server answers 416, and the part is not silently
    renamed into an archive."""
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    part = root / "archives" / (RAR + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(ds.files[RAR] + b"extra")
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
        assert server.state.seen(RAR)[0].range == f"bytes={len(ds.files[RAR]) + 5}-"
    line = error_line(capsys)
    assert f"{len(ds.files[RAR]) + 5:,} bytes" in line and f"delete {part} and rerun" in line
    assert part.exists() and not (root / "archives" / RAR).exists()


def test_a_404_is_one_line_naming_the_url_and_the_fix(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        server.state.status[RAR] = 404
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
        assert len(server.state.seen(RAR)) == 1  # a 404 is not retried
        line = error_line(capsys)
        assert f"{server.url}{RAR}: HTTP 404" in line and "--base-url" in line
    assert not (root / MARKER).exists()


def test_server_errors_are_retried_then_reported(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        server.state.status[RAR] = 503
        assert run("ucf101", root, "--retries", "2", base_url=server.url, ds=ds) == 1
        assert len(server.state.seen(RAR)) == 3
    line = error_line(capsys)
    assert "HTTP 503" in line and "3 attempts in a row" in line


def test_an_html_page_instead_of_the_archive_is_refused_before_anything_is_written(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    page = b"<!DOCTYPE html><html><body>The page you requested has moved.</body></html>"
    with ArchiveServer({**ds.files, RAR: page}) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
    line = error_line(capsys)
    assert f"{RAR} did not send the archive" in line and "HTML" in line and "nothing was saved" in line
    assert not list((root / "archives").glob(RAR + "*"))


def test_an_html_page_saved_as_the_archive_is_deleted_and_said_so(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    saved = root / "archives" / RAR
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"<html><body>404 Not Found</body></html>")
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
        assert not server.state.seen(RAR)  # a file already there is used, not fetched again
    line = error_line(capsys)
    assert f"{saved} is not a RAR archive" in line and "deleted it: rerun to download it again" in line
    assert not saved.exists() and not (root / "UCF-101").exists()


def test_a_member_failing_its_crc_is_a_clear_error_and_no_tree_is_left(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    victim = "Basketball/v_Basketball_g02_c01.avi"
    bad = corrupt_member(ds.files[RAR], ds.videos[victim])
    with ArchiveServer({**ds.files, RAR: bad}) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
    line = error_line(capsys)
    assert f"{root / 'archives' / RAR} is corrupt (member UCF-101/{victim})" in line and "CRC" in line
    assert "deleted it" in line and "--base-url" in line
    assert not (root / "UCF-101").exists() and not leftovers(root) and not (root / MARKER).exists()


def test_a_truncated_archive_is_a_clear_error(tmp_path, capsys):
    """A mirror serving a cut-short file announces the short size: the download completes, the unpacking finds the
    last member cut short."""
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    cut = ds.files[RAR][: int(len(ds.files[RAR]) * 0.6)]
    with ArchiveServer({**ds.files, RAR: cut}) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
    line = error_line(capsys)
    assert "is corrupt" in line and "cut short" in line and RAR in line
    assert not (root / "UCF-101").exists() and not (root / MARKER).exists()


def test_a_stalled_server_fails_with_a_timeout_not_a_hang(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        server.state.stall_after[RAR] = 300
        start = time.monotonic()
        assert run("ucf101", root, "--timeout", "0.3", "--retries", "1", base_url=server.url, ds=ds) == 1
        assert time.monotonic() - start < 5
        assert len(server.state.seen(RAR)) == 2  # the retry resumed at byte 300 and stalled again
        assert server.state.seen(RAR)[1].range == "bytes=300-"
    line = error_line(capsys)
    assert "stopped sending at 300 bytes (Read timed out)" in line and "2 attempts in a row" in line
    assert "rerun to resume" in line
    assert (root / "archives" / (RAR + ".part")).read_bytes() == ds.files[RAR][:300]


def test_a_full_disk_while_downloading_keeps_the_part_and_the_rerun_resumes(tmp_path, capsys, monkeypatch):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    part = root / "archives" / (RAR + ".part")
    real_write_all = download_module._write_all
    room = 1000  # the disk fills after this many bytes, in the middle of a chunk

    def full_disk(fh, data):
        nonlocal room
        real_write_all(fh, data[:room])
        if len(data) > room:
            room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        room -= len(data)

    with ArchiveServer(ds.files) as server:
        monkeypatch.setattr(download_module, "_write_all", full_disk)
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
        line = error_line(capsys)
        assert f"cannot write {part}" in line and "No space left on device" in line and "free space" in line
        assert "rerun to resume" in line and len(server.state.seen(RAR)) == 1  # a full disk is not retried
        kept = part.stat().st_size
        assert kept == 1000 and part.read_bytes() == ds.files[RAR][:kept]
        monkeypatch.setattr(download_module, "_write_all", real_write_all)
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert server.state.seen(RAR)[-1].range == f"bytes={kept}-"
    assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]


def test_a_full_disk_while_unpacking_keeps_the_archive(tmp_path, capsys, monkeypatch):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"

    def disk_full(self, chunk):
        self.error = OSError(errno.ENOSPC, "No space left on device")

    with ArchiveServer(ds.files) as server:
        monkeypatch.setattr(unpack_module._Sink, "__call__", disk_full)
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
        line = error_line(capsys)
        assert "No space left on device" in line and f"{root / 'archives' / RAR} is kept: rerun to unpack it" in line
        assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]
        assert not (root / "UCF-101").exists() and not leftovers(root)
        monkeypatch.undo()
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert len(server.state.seen(RAR)) == 1  # unpacked from the kept archive, not downloaded again
    assert_videos(root / "UCF-101", ds)


def test_no_marker_when_a_split_names_a_missing_video(tmp_path, capsys):
    ghost = "Basketball/v_Basketball_g09_c01.avi"
    ds = ucf101_dataset(missing_in_split=ghost)
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1
        line = error_line(capsys)
        assert "split 1 names 1 videos missing" in line and ghost in line
        assert not (root / MARKER).exists()
        assert (root / "archives" / RAR).exists() and (root / "archives" / ZIP).exists()  # nothing downloaded is lost
        assert run("ucf101", root, base_url=server.url, ds=ds) == 1  # unpacked again from the kept archives
        assert len(server.state.requests) == 2 and not (root / MARKER).exists()


def test_no_marker_when_the_counts_disagree(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, "--expect-classes", "2", "--expect-videos", "13", base_url=server.url) == 1
    line = error_line(capsys)
    assert "12 videos, not 13" in line and "arXiv:1212.0402" in line
    assert not (root / MARKER).exists()


def test_verify_only_marks_a_root_unpacked_by_hand(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
    (root / MARKER).unlink()
    assert run("ucf101", root, "--verify-only", base_url="http://127.0.0.1:9/", ds=ds) == 0  # nothing fetched
    assert (root / MARKER).is_file()
    (root / MARKER).unlink()
    (root / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi").unlink()
    assert run("ucf101", root, "--verify-only", ds=ds) == 1
    assert "v_ApplyEyeMakeup_g01_c01.avi" in error_line(capsys)


def test_a_zip_member_failing_its_crc_is_corrupt(tmp_path):
    data = zip_archive({"ucfTrainTestlist/classInd.txt": b"1 ApplyEyeMakeup\r\n" * 50})
    bad = tmp_path / "splits.zip"
    bad.write_bytes(_flip_stored_zip_byte(data))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CorruptArchiveError, match="is corrupt"):
        extract_zip(bad, out, strip="ucfTrainTestlist")


def _flip_stored_zip_byte(data: bytes) -> bytes:
    """Flip one byte of the first member's compressed data (just after its local header and name)."""
    name_len, extra_len = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
    i = 30 + name_len + extra_len + 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


def test_a_member_climbing_out_of_the_target_is_refused(tmp_path):
    bad = tmp_path / "bad.rar"
    bad.write_bytes(rar_archive({"UCF-101/A/x.avi": b"x", "../../evil.avi": b"evil"}))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CorruptArchiveError, match="points outside"):
        extract_rar(bad, out, strip="UCF-101")
    assert not (tmp_path / "evil.avi").exists() and not (tmp_path.parent / "evil.avi").exists()
    for name in ("/etc/passwd", "C:\\x.avi", "a/../../b", ""):
        with pytest.raises(CorruptArchiveError):
            member_path(name, bad)
    assert str(member_path("UCF-101\\A\\x.avi", bad)) == "UCF-101/A/x.avi"


def test_the_registry_holds_the_official_files_and_counts():
    ucf101, hmdb51, ucf11 = DATASETS["ucf101"], DATASETS["hmdb51"], DATASETS["ucf11"]
    assert [a.name for a in ucf101.archives] == [RAR, ZIP]
    assert (ucf101.num_classes, ucf101.num_videos) == (101, 13_320)
    assert (hmdb51.num_classes, hmdb51.num_videos) == (51, 6_766)
    assert (ucf11.num_classes, ucf11.num_videos, ucf11.groups_per_class) == (11, 1_600, 25)
    assert [a.nested for a in hmdb51.archives] == [True, False]
    for spec in (ucf101, hmdb51, ucf11):
        for archive in spec.archives:
            assert isinstance(archive, Archive) and archive.url.endswith("/" + archive.name)


def test_the_layout_errors_name_the_download_command(tmp_path):
    for parse, name in ((parse_ucf101, "ucf101"), (parse_hmdb51, "hmdb51")):
        with pytest.raises(DatasetLayoutError) as info:
            parse(tmp_path / "missing", tmp_path / "missing")
        assert f"python scripts/get_data.py {name} --root <root>" in str(info.value)
    with pytest.raises(DatasetLayoutError, match="get_data.py ucf11 --root"):
        parse_ucf11(tmp_path / "missing")
