"""The official archives of UCF101, HMDB51 and UCF11: their URLs, file names, what each unpacks to, and what a
complete dataset holds. This is the one place that names them; ``scripts/get_data.py`` fetches through
:mod:`har_vib.data.fetch`, which reads this registry.

No checksums are listed: none is published by the datasets' sites, and an unverified one would be worse than none.
A download is judged complete by the size the server announces (``Content-Length`` / ``Content-Range``), every
member of the archive by its CRC as it is unpacked, and the dataset by its layout and counts
(:func:`har_vib.data.fetch.verify_layout`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

# the environment variable that points every archive at a mirror (as --base-url does)
BASE_URL_ENV = "HAR_VIB_DATA_URL"

# the first bytes of each kind of archive: RAR 1.5-4.x, RAR 5, ZIP (a local file header, or the end record of an
# empty archive)
MAGIC = {
    "rar": (b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00"),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
}


class FetchError(Exception):
    """Getting a dataset failed. The message is one line for the user: what went wrong with which file or URL,
    and what fixes it."""


class CorruptArchiveError(FetchError):
    """An archive is proven unusable: not an archive of its kind, a member failing its CRC, or cut short.

    Attributes:
        path: the archive file.
    """

    def __init__(self, message: str, path: str | os.PathLike) -> None:
        super().__init__(message)
        self.path = Path(path)


@dataclass(frozen=True)
class Archive:
    """One file to download and unpack.

    Attributes:
        name: the file name on the server and on disk; a mirror serves the file under this name.
        url: the official URL.
        folder: the folder under the dataset root that the archive becomes. A leading member folder of the same
            name is not repeated (``UCF-101/X/y.avi`` lands in ``<root>/UCF-101/X/y.avi``).
        nested: the members are themselves RAR archives, one per class (``<class>.rar``), each unpacked into
            ``<root>/<folder>/<class>/`` (HMDB51's ``hmdb51_org.rar``).
    """

    name: str
    url: str
    folder: str
    nested: bool = False

    @property
    def kind(self) -> str:
        """``"rar"`` or ``"zip"``, from the file name."""
        suffix = Path(self.name).suffix.lower().lstrip(".")
        if suffix not in MAGIC:
            raise ValueError(f"{self.name}: only .rar and .zip archives are handled")
        return suffix


@dataclass(frozen=True)
class DatasetArchives:
    """A dataset's archives and what a complete copy of it holds.

    Attributes:
        name: the dataset's config name (``dataset=<name>``).
        site: the dataset's page (licence, citation, the files by hand).
        archives: the files to fetch, in the order they are fetched.
        video_folder: the folder under the root that holds the class folders.
        split_folder: the folder under the root that holds the split files, or None (UCF11).
        num_classes: the number of class folders (and of classes in the split files).
        num_videos: the number of video files in the class folders.
        groups_per_class: UCF11 only: the ``v_<short>_<GG>`` group folders of each class, or None.
        splits: the official split numbers to parse and check, empty for UCF11 (no official split).
        source: where the counts come from, quoted when a check fails.
    """

    name: str
    site: str
    archives: tuple[Archive, ...]
    video_folder: str
    split_folder: str | None
    num_classes: int
    num_videos: int
    groups_per_class: int | None = None
    splits: tuple[int, ...] = (1, 2, 3)
    source: str = ""


DATASETS: dict[str, DatasetArchives] = {
    "ucf101": DatasetArchives(
        name="ucf101",
        site="https://www.crcv.ucf.edu/data/UCF101.php",
        archives=(
            Archive("UCF101.rar", "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar", "UCF-101"),
            Archive(
                "UCF101TrainTestSplits-RecognitionTask.zip",
                "https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
                "ucfTrainTestlist",
            ),
        ),
        video_folder="UCF-101",
        split_folder="ucfTrainTestlist",
        # Soomro, Zamir, Shah, "UCF101: A Dataset of 101 Human Actions Classes From Videos in The Wild",
        # CRCV-TR-12-01, arXiv:1212.0402 (2012), Table 1: 101 action classes, 13,320 clips.
        num_classes=101,
        num_videos=13_320,
        source="Soomro et al. 2012, arXiv:1212.0402",
    ),
    "hmdb51": DatasetArchives(
        name="hmdb51",
        site="https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/",
        archives=(
            Archive(
                "hmdb51_org.rar",
                "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/hmdb51_org.rar",
                "videos",
                nested=True,
            ),
            Archive(
                "test_train_splits.rar",
                "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/test_train_splits.rar",
                "testTrainMulti_7030_splits",
            ),
        ),
        video_folder="videos",
        split_folder="testTrainMulti_7030_splits",
        # Kuehne, Jhuang, Garrote, Poggio, Serre, "HMDB: A Large Video Database for Human Motion Recognition",
        # ICCV 2011: 51 action categories. The paper and the site give 6,849 clips in all; the released
        # hmdb51_org.rar holds 6,766 of them, the count its users report.
        num_classes=51,
        num_videos=6_766,
        source="Kuehne et al., ICCV 2011, and the released hmdb51_org.rar",
    ),
    "ucf11": DatasetArchives(
        name="ucf11",
        site="https://www.crcv.ucf.edu/data/UCF_YouTube_Action.php",
        archives=(
            Archive(
                "UCF11_updated_mpg.rar", "https://www.crcv.ucf.edu/data/UCF11_updated_mpg.rar", "UCF11_updated_mpg"
            ),
        ),
        video_folder="UCF11_updated_mpg",
        split_folder=None,
        # Liu, Luo, Shah, "Recognizing Realistic Actions from Videos 'in the Wild'", CVPR 2009: 11 action
        # categories, each in 25 groups of clips sharing actor and background. The paper counts 1,168 clips; the
        # dataset's site gives 1,600 for the updated .mpg release (UCF11_updated_mpg.rar) fetched here.
        num_classes=11,
        num_videos=1_600,
        groups_per_class=25,
        splits=(),
        source="Liu, Luo, Shah, CVPR 2009, and the site's updated release",
    ),
}


def dataset_archives(name: str) -> DatasetArchives:
    """The registry entry of dataset ``name`` (``ucf101``, ``hmdb51`` or ``ucf11``).

    Raises:
        FetchError: for another name, listing the known ones.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise FetchError(f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}") from None


def resolve_base_url(base_url: str | None) -> str | None:
    """The mirror to fetch from: ``base_url`` when given, else ``$HAR_VIB_DATA_URL`` when set and not empty, else
    None (the official URLs)."""
    if base_url:
        return base_url
    return os.environ.get(BASE_URL_ENV) or None


def archive_url(archive: Archive, base_url: str | None = None) -> str:
    """Where to fetch ``archive``: its official URL, or ``base_url`` + ``/`` + its file name.

    ``base_url`` is an ``http(s)://`` or ``file://`` URL, or a local folder (made a ``file://`` URL).
    """
    if not base_url:
        return archive.url
    if not urlsplit(base_url).scheme or len(urlsplit(base_url).scheme) == 1:  # a path (a Windows drive is 1 letter)
        return Path(base_url).expanduser().resolve().joinpath(archive.name).as_uri()
    return base_url.rstrip("/") + "/" + quote(archive.name)
