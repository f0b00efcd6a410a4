"""scripts/get_data.py end to end against a local HTTP server: download (with resume, retries and timeouts), RAR/ZIP
unpacking through the real UnRAR library, layout verification and the completion marker, and every failure as one
line with exit code 1. The archives are tiny ones in the official layouts (tests/data/archive_fixtures.py); no test
reaches beyond 127.0.0.1 (any other connection, or a DNS look-up, fails the test)."""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from har_vib.data import download as download_module
from har_vib.data import fetch as fetch_module
from har_vib.data import unpack as unpack_module
from har_vib.data.archives import BASE_URL_ENV, DATASETS, Archive, CorruptArchiveError, FetchError, archive_url
from har_vib.data.fetch import LOCK, MARKER, UNPACKED
from har_vib.data.splits import DatasetLayoutError, parse_hmdb51, parse_ucf11, parse_ucf101
from har_vib.data.unpack import check_space, extract_rar, extract_zip, human_size, member_path, member_sizes
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
DEAD = "http://127.0.0.1:9/"  # the discard port: nothing listens, a connection is refused at once


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
    return error_line_of(capsys.readouterr().err)


def error_line_of(err: str) -> str:
    """The one error line of the stderr text ``err`` (checked to be one line, with no traceback)."""
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
    """With the server out of reach its size cannot be checked: the file is used, and unpacking finds it is not
    the archive."""
    root = tmp_path / "ucf101"
    saved = root / "archives" / RAR
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"<html><body>404 Not Found</body></html>")
    assert run("ucf101", root, base_url=DEAD, ds=ucf101_dataset()) == 1
    err = capsys.readouterr().err
    assert f"{RAR}: already in {saved.parent}; its size could not be checked" in err
    line = error_line_of(err)
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


# --- the root: missing, nested, read-only, left clean -------------------------------------------------------------


def test_verify_only_on_a_missing_root_creates_nothing(tmp_path, capsys):
    root = tmp_path / "x" / "doesnotexist"
    assert run("ucf101", root, "--verify-only", ds=ucf101_dataset()) == 1
    line = error_line(capsys)
    assert f"{root} does not exist" in line and "--verify-only" in line
    assert not (tmp_path / "x").exists()


def _tiny_ucf101_root(root: Path) -> None:
    ds = ucf101_dataset()
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
    (root / MARKER).unlink()


@pytest.mark.parametrize("below", ["UCF101", "downloads/UCF101"])
def test_a_dataset_unpacked_one_or_two_levels_too_deep_is_found_and_named(tmp_path, capsys, below):
    made = tmp_path / "made"
    _tiny_ucf101_root(made)
    root = tmp_path / "ucf101"
    (root / below).mkdir(parents=True)
    for name in ("UCF-101", "ucfTrainTestlist"):
        (made / name).rename(root / below / name)
    assert run("ucf101", root, "--verify-only", ds=ucf101_dataset()) == 1
    line = error_line(capsys)
    assert f"{root / below / 'UCF-101'} and {root / below / 'ucfTrainTestlist'} are below {root}" in line
    assert f"pass --root {root / below} (or move them into {root})" in line
    assert run("ucf101", root / below, "--verify-only", ds=ucf101_dataset()) == 0  # the fix it names works


def test_a_video_folder_nested_apart_from_the_splits_is_to_be_moved(tmp_path, capsys):
    root = tmp_path / "ucf101"
    _tiny_ucf101_root(root)
    (root / "UCF101").mkdir()
    (root / "UCF-101").rename(root / "UCF101" / "UCF-101")
    assert run("ucf101", root, "--verify-only", ds=ucf101_dataset()) == 1
    line = error_line(capsys)
    assert f"{root / 'UCF101' / 'UCF-101'} is below {root}, not in it: move it into {root}" in line
    assert "--root" not in line.split("not in it")[1]  # that parent lacks ucfTrainTestlist: --root would not do


def test_ucf11_unpacked_into_a_folder_of_its_own_is_found(tmp_path, capsys):
    ds = ucf11_dataset()
    made = tmp_path / "made"
    with ArchiveServer(ds.files) as server:
        assert run("ucf11", made, base_url=server.url, ds=ds) == 0
    root = tmp_path / "ucf11"
    (root / "UCF11").mkdir(parents=True)
    (made / "UCF11_updated_mpg").rename(root / "UCF11" / "UCF11_updated_mpg")
    assert run("ucf11", root, "--verify-only", ds=ds) == 1
    assert f"pass --root {root / 'UCF11'}" in error_line(capsys)


def test_a_read_only_root_names_another_root_as_a_fix(tmp_path, capsys, monkeypatch):
    root = tmp_path / "ucf101"
    root.mkdir()
    real_open = open

    def read_only(path, *args, **kwargs):
        if Path(path).parent == root:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(fetch_module, "open", read_only, raising=False)
    assert run("ucf101", root, base_url=DEAD, ds=ucf101_dataset()) == 1
    line = error_line(capsys)
    assert "Read-only file system" in line and "remount it read-write or choose another --root" in line


def test_no_archives_folder_under_the_root_when_archive_dir_is_elsewhere(tmp_path, capsys):
    ds = ucf101_dataset()
    elsewhere = tmp_path / "elsewhere"
    with ArchiveServer(ds.files) as server:
        ok, failed = tmp_path / "ok", tmp_path / "failed"
        assert run("ucf101", ok, "--archive-dir", str(elsewhere), base_url=server.url, ds=ds) == 0
        server.state.status[RAR] = 404
        assert run("ucf101", failed, "--archive-dir", str(tmp_path / "other"), base_url=server.url, ds=ds) == 1
    assert (elsewhere / RAR).is_file()
    for root in (ok, failed):
        assert not (root / "archives").exists(), sorted(p.name for p in root.iterdir())
    assert sorted(p.name for p in ok.iterdir()) == sorted([MARKER, UNPACKED, "UCF-101", "ucfTrainTestlist"])


def test_the_lock_file_is_removed_when_a_run_ends(tmp_path, capsys):
    ds = ucf101_dataset()
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", tmp_path / "ok", base_url=server.url, ds=ds) == 0
        server.state.status[RAR] = 404
        assert run("ucf101", tmp_path / "failed", base_url=server.url, ds=ds) == 1
    assert run("ucf101", tmp_path / "ok", "--verify-only", ds=ds) == 0  # already complete: no lock taken
    (tmp_path / "ok" / MARKER).unlink()
    assert run("ucf101", tmp_path / "ok", "--verify-only", ds=ds) == 0
    for root in (tmp_path / "ok", tmp_path / "failed"):
        assert not (root / LOCK).exists()


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path, capsys):
    root = tmp_path / "ucf101"
    root.mkdir()
    with fetch_module._lock(root):
        assert run("ucf101", root, base_url=DEAD, ds=ucf101_dataset()) == 1
        line = error_line(capsys)
        assert "another get_data run is working on" in line and LOCK in line
        assert (root / LOCK).exists()  # the refused run does not remove the lock the first one holds
    assert not (root / LOCK).exists()


def test_a_run_that_opened_the_lock_file_as_the_holder_removed_it_locks_the_new_one(tmp_path, monkeypatch):
    """The race of removing a lock file: B opens the file, A (holding it) removes it and ends, B locks the removed
    file. B must notice and lock the file now at that path, else a third run C would lock that one alongside B."""
    root = tmp_path / "ucf101"
    root.mkdir()
    real = fetch_module.fcntl
    first = contextlib.ExitStack()
    first.enter_context(fetch_module._lock(root))

    class Racing:  # fcntl whose next flock first lets the holder A end
        LOCK_EX, LOCK_NB, LOCK_UN = real.LOCK_EX, real.LOCK_NB, real.LOCK_UN
        before = first.close

        def flock(self, fh, op):
            if op & real.LOCK_EX and self.before is not None:
                end, self.before = self.before, None
                end()
            return real.flock(fh, op)

    monkeypatch.setattr(fetch_module, "fcntl", Racing())
    with fetch_module._lock(root):  # B
        assert (root / LOCK).exists()
        with pytest.raises(FetchError, match="another get_data run"), fetch_module._lock(root):  # C
            pass
    assert not (root / LOCK).exists()


# --- free space before unpacking ----------------------------------------------------------------------------------


def test_too_little_free_space_refuses_to_unpack_before_writing_anything(tmp_path, capsys, monkeypatch):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    archives = tmp_path / "archives"
    real_usage = shutil.disk_usage

    def small_root(path):
        usage = real_usage(path)
        return usage._replace(free=5_000_000) if Path(path) == root else usage

    monkeypatch.setattr(shutil, "disk_usage", small_root)
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, "--archive-dir", str(archives), base_url=server.url, ds=ds) == 1
        line = error_line(capsys)
        total = sum(len(v) for v in ds.videos.values())
        assert f"cannot unpack {archives / RAR} into {root}: its 12 files take {human_size(total)}" in line
        assert f"{root} has 5 MB free; free " in line and "more on that disk or choose another --root" in line
        assert f"{archives / RAR} is kept" in line
        assert sorted(p.name for p in root.iterdir()) == []  # not a folder, not a temp, not the lock
        assert (archives / RAR).read_bytes() == ds.files[RAR]
        monkeypatch.setattr(shutil, "disk_usage", real_usage)
        assert run("ucf101", root, "--archive-dir", str(archives), base_url=server.url, ds=ds) == 0
        assert len(server.state.seen(RAR)) == 1  # unpacked from the kept archive
    assert_videos(root / "UCF-101", ds)


def test_the_space_needed_is_every_member_plus_a_margin(tmp_path, monkeypatch):
    """From the listings (no member decompressed); a nested archive (HMDB51) also needs its largest inner archive's
    videos beside all the inner archives; an archive that cannot be listed is left to unpacking to report."""
    ds, hm = ucf101_dataset(), hmdb51_dataset()
    for name, data in {**ds.files, **hm.files}.items():
        (tmp_path / name).write_bytes(data)
    rar, nested = DATASETS["ucf101"].archives[0], DATASETS["hmdb51"].archives[0]
    assert sum(member_sizes(tmp_path / RAR, "rar")) == sum(len(v) for v in ds.videos.values())
    assert len(member_sizes(tmp_path / ZIP, "zip")) == 7
    inner = member_sizes(tmp_path / nested.name, "rar")
    (tmp_path / "outer").mkdir()
    extract_rar(tmp_path / nested.name, tmp_path / "outer")
    assert sorted(inner) == sorted(p.stat().st_size for p in (tmp_path / "outer").glob("*.rar"))
    free, real_usage = 0, shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=free))
    for archive, total in ((rar, sum(len(v) for v in ds.videos.values())), (nested, sum(inner) + max(inner))):
        needed = total + int(total * unpack_module.UNPACK_MARGIN_FRACTION) + unpack_module.UNPACK_MARGIN_BYTES
        free = needed
        check_space(archive, tmp_path / archive.name, tmp_path / "root")  # exactly enough
        free = needed - 1
        with pytest.raises(FetchError, match=f"take {human_size(total)}, {human_size(needed)} with a margin"):
            check_space(archive, tmp_path / archive.name, tmp_path / "root")
    (tmp_path / "page.rar").write_bytes(b"<html></html>")
    assert member_sizes(tmp_path / "page.rar", "rar") is None
    check_space(rar, tmp_path / "page.rar", tmp_path / "root")


# --- an archive placed by hand --------------------------------------------------------------------------------------


def _place(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / "archives"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_an_archive_placed_by_hand_with_the_servers_size_is_used_as_it_is(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    _place(root, ds.files)
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert sorted(server.state.heads) == sorted(["/" + RAR, "/" + ZIP]) and not server.state.requests
    assert f"{RAR}: already downloaded" in capsys.readouterr().err


def test_a_short_archive_placed_by_hand_is_resumed(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    half = len(ds.files[RAR]) // 2
    folder = _place(root, {RAR: ds.files[RAR][:half], ZIP: ds.files[ZIP]})
    with ArchiveServer(ds.files) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert [r.range for r in server.state.seen(RAR)] == [f"bytes={half}-"]
        assert not server.state.seen(ZIP)
    err = capsys.readouterr().err
    assert f"{folder / RAR} holds {half:,} bytes, but {server.url}{RAR} has {len(ds.files[RAR]):,}: resuming" in err
    assert (folder / RAR).read_bytes() == ds.files[RAR]
    assert_videos(root / "UCF-101", ds)


def test_an_archive_placed_by_hand_that_cannot_be_the_file_is_downloaded_again(tmp_path, capsys):
    """Longer than the server's file, or shorter but not starting as a RAR archive (an HTML page saved under the
    archive's name): no prefix of the file, so it is fetched whole."""
    ds = ucf101_dataset()
    for placed in (ds.files[RAR] + b"junk", b"<html><body>404 Not Found</body></html>"):
        root = tmp_path / str(len(placed))
        folder = _place(root, {RAR: placed, ZIP: ds.files[ZIP]})
        with ArchiveServer(ds.files) as server:
            assert run("ucf101", root, base_url=server.url, ds=ds) == 0
            assert [r.range for r in server.state.seen(RAR)] == [None]
        err = capsys.readouterr().err
        assert f"{folder / RAR} holds {len(placed):,} bytes, but {server.url}{RAR} has {len(ds.files[RAR]):,}" in err
        assert f"downloading the file again (it replaces {RAR} once complete)" in err
        assert (folder / RAR).read_bytes() == ds.files[RAR]


def test_a_server_without_head_is_asked_for_one_byte_to_learn_the_size(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    half = len(ds.files[RAR]) // 2
    _place(root, {RAR: ds.files[RAR][:half], ZIP: ds.files[ZIP]})
    with ArchiveServer(ds.files) as server:
        server.state.head_status = 405
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert [r.range for r in server.state.seen(RAR)] == ["bytes=0-0", f"bytes={half}-"]
        assert [r.range for r in server.state.seen(ZIP)] == ["bytes=0-0"]
    assert (root / "archives" / RAR).read_bytes() == ds.files[RAR]


def test_an_archive_placed_by_hand_is_used_with_a_note_when_the_server_is_out_of_reach(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    folder = _place(root, ds.files)
    assert run("ucf101", root, base_url=DEAD, ds=ds) == 0
    err = capsys.readouterr().err
    for name in (RAR, ZIP):
        note = [line for line in err.splitlines() if line.startswith(f"{name}: already in {folder}")]
        assert len(note) == 1 and "its size could not be checked" in note[0] and "CRC" in note[0], err
        assert f"{DEAD}{name} did not answer" in note[0]
    assert_videos(root / "UCF-101", ds)


def test_an_archive_placed_by_hand_stays_when_its_new_download_fails(tmp_path, capsys):
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    longer = ds.files[RAR] + b"junk"
    folder = _place(root, {RAR: longer, ZIP: ds.files[ZIP]})
    with ArchiveServer(ds.files) as server:
        server.state.cut_after[RAR] = 100
        assert run("ucf101", root, "--retries", "0", base_url=server.url, ds=ds) == 1
        assert "rerun to resume" in error_line(capsys)
        assert (folder / RAR).read_bytes() == longer  # replaced only by a complete download
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
        assert server.state.seen(RAR)[-1].range == "bytes=100-"
    assert (folder / RAR).read_bytes() == ds.files[RAR]


def test_a_server_answering_with_a_page_does_not_judge_an_archive_placed_by_hand(tmp_path, capsys):
    """A size announced for an HTML page (a login or error page served with 200) is not the archive's: the file
    there is used, with the note."""
    ds = ucf101_dataset()
    root = tmp_path / "ucf101"
    folder = _place(root, ds.files)
    with ArchiveServer({**ds.files, RAR: b"<html><body>Please log in</body></html>"}) as server:
        assert run("ucf101", root, base_url=server.url, ds=ds) == 0
    err = capsys.readouterr().err
    assert f"{RAR}: already in {folder}; its size could not be checked" in err and "text/html" in err
    assert (folder / RAR).read_bytes() == ds.files[RAR]
    assert_videos(root / "UCF-101", ds)
