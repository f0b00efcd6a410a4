"""Download, unpack and verify UCF101, HMDB51 or UCF11 from their official archives, into the layout train.py reads.

    python scripts/get_data.py ucf101 --root data/raw/ucf101          # or: make data DATASET=ucf101
    python scripts/get_data.py hmdb51 --root data/raw/hmdb51 --base-url https://mirror.example.org/har/
    HAR_VIB_DATA_URL=file:///mnt/archives python scripts/get_data.py ucf11 --root data/raw/ucf11

Interrupted? Run the same command again: a partial download resumes where it stopped (HTTP Range), archives
already downloaded or unpacked are not fetched again. The root is verified with the project's own split parsers
and the datasets' published counts; only then is ``<root>/.har_vib_complete.json`` written, and a rerun after that
does nothing. Any failure is one line naming the file or URL and the fix, exit code 1. The URLs, file names and
counts are in har_vib/data/archives.py; docs/datasets.md has the details (mirrors, disk space).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from har_vib.data.archives import BASE_URL_ENV, DATASETS, FetchError, dataset_archives, resolve_base_url
from har_vib.data.download import DownloadOptions
from har_vib.data.fetch import MARKER, fetch_dataset
from har_vib.errors import os_error_message


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(DATASETS), help="which dataset")
    p.add_argument("--root", help="the dataset root, dataset.root of the config (default: data/raw/<dataset>)")
    p.add_argument("--archive-dir", help="where the archives are downloaded and kept (default: <root>/archives)")
    p.add_argument(
        "--base-url",
        help=f"a mirror holding every archive under its official file name (http(s)://, file:// or a folder); "
        f"default: ${BASE_URL_ENV} when set, else the official URLs",
    )
    p.add_argument("--retries", type=int, default=5, help="failed attempts in a row before giving up (default 5)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds without a byte before a retry (default 60)")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="do not check the server's TLS certificate (members are still CRC-checked, the layout verified)",
    )
    p.add_argument("--delete-archives", action="store_true", help="delete the archives once the root is verified")
    p.add_argument(
        "--verify-only", action="store_true", help="fetch nothing: verify a root unpacked by hand and mark it"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    # for the tests: small archives, no waiting between retries
    p.add_argument("--expect-classes", type=int, help=argparse.SUPPRESS)
    p.add_argument("--expect-videos", type=int, help=argparse.SUPPRESS)
    p.add_argument("--expect-groups", type=int, help=argparse.SUPPRESS)
    p.add_argument("--backoff", type=float, default=2.0, help=argparse.SUPPRESS)
    return p


class _Stderr(logging.Handler):
    """Progress lines of har_vib.data on the stderr of the moment (``print`` looks ``sys.stderr`` up each time)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def _log_to_stderr() -> None:
    logger = logging.getLogger("har_vib.data")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 done or already complete, 1 failed, 130 interrupted)."""
    a = _parser().parse_args(argv)
    _log_to_stderr()
    spec = dataset_archives(a.dataset)
    counts = {
        "num_classes": a.expect_classes,
        "num_videos": a.expect_videos,
        "groups_per_class": a.expect_groups,
    }
    spec = dataclasses.replace(spec, **{k: v for k, v in counts.items() if v is not None})
    root = a.root or f"data/raw/{a.dataset}"
    options = DownloadOptions(
        retries=a.retries,
        backoff_s=a.backoff,
        read_timeout_s=a.timeout,
        verify_tls=not a.insecure,
        progress=not a.no_progress,
    )
    try:
        report = fetch_dataset(
            spec,
            root,
            archive_dir=a.archive_dir,
            base_url=resolve_base_url(a.base_url),
            options=options,
            delete_archives=a.delete_archives,
            verify_only=a.verify_only,
        )
    except FetchError as err:
        print(f"get_data.py: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # anything the modules did not name themselves
        print(f"get_data.py: error: {os_error_message(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("get_data.py: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    v = report.marker.get("verified", {})
    summary = f"{v.get('classes')} classes, {v.get('videos', 0):,} videos"
    if report.already_complete:
        print(
            f"{root} is already complete ({summary}, verified {report.marker.get('verified_at')}): nothing to "
            f"download. Delete {root}/{MARKER} to check it again."
        )
        return 0
    fetched = sum(report.downloaded.values())
    done = f"downloaded {_size(fetched)}, " if report.downloaded else ""
    print(f"{root}: {summary} verified ({done}unpacked {len(report.unpacked)} archive(s)); train with:")
    default = Path(f"data/raw/{a.dataset}").resolve() == Path(root).resolve()
    print(f"  python train.py dataset={a.dataset}" + ("" if default else f" dataset.root={Path(root).resolve()}"))
    return 0


def _size(n: int) -> str:
    """``n`` bytes for people: 812 B, 23.4 MB, 6.93 GB."""
    if n < 1000:
        return f"{n} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if n < scale * 1000 or unit == "GB":
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


if __name__ == "__main__":
    sys.exit(main())
