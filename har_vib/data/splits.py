"""Official train/test splits of UCF101, HMDB51 and UCF11, parsed into :class:`VideoRecord` lists.

Labels are 0-based. Class order: ``classInd.txt`` for UCF101, sorted class names for HMDB51 and UCF11.
Parsing reads the split files only (it never decodes a video); a video listed there but missing on disk is
skipped later, with its reason, by whatever reads it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from har_vib.errors import ConfigError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mpg", ".mpeg", ".mkv", ".webm", ".mov")

UCF101_LAYOUT = """\
  <root>/UCF-101/<ClassName>/v_<ClassName>_gGG_cCC.avi        (from UCF101.rar)
  <root>/ucfTrainTestlist/classInd.txt                         (from UCF101TrainTestSplits-RecognitionTask.zip)
  <root>/ucfTrainTestlist/trainlist0{1,2,3}.txt, testlist0{1,2,3}.txt
Get it from https://www.crcv.ucf.edu/data/UCF101.php, or generate a stand-in with
`python scripts/make_synthetic_videos.py --layout ucf101 --out <root>`."""

HMDB51_LAYOUT = """\
  <root>/videos/<class>/<name>.avi                             (hmdb51_org.rar, each class .rar unpacked)
  <root>/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   (test_train_splits.rar)
  each split line: `<name>.avi <tag>` with tag 1 = train, 2 = test, 0 = unused
Get it from https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/, or generate a
stand-in with `python scripts/make_synthetic_videos.py --layout hmdb51 --out <root>`."""

UCF11_LAYOUT = """\
  <root>/action_youtube_naudio/<class>/v_<short>_<GG>/v_<short>_<GG>_<CC>.avi
  <root>/action_youtube_naudio/<class>/Annotation/            (ignored)
  11 classes (basketball, biking, ..., walking), 25 groups GG = 01..25 per class
Get it from https://www.crcv.ucf.edu/data/UCF_YouTube_Action.php (UCF11_updated_mpg.rar or
action_youtube_naudio.zip), or generate a stand-in with
`python scripts/make_synthetic_videos.py --layout ucf11 --out <root>`."""


class DatasetLayoutError(ConfigError):
    """A dataset folder is missing or does not have the layout its parser expects."""


def _layout_error(what: str, layout: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"{what}\nExpected layout:\n{layout}")


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video: ``path`` relative to the dataset's video folder, 0-based ``label``.

    ``group`` is the UCF group (clips of one group share actor and background), or None for HMDB51.
    """

    path: str
    label: int
    class_name: str
    group: int | None = None

    @property
    def video_id(self) -> str:
        """Path without extension: unique within a dataset, usable as a file stem after '/' -> '__'."""
        return str(Path(self.path).with_suffix(""))


@dataclass
class DatasetSplit:
    """Class names and the train / test records of one split (or fold)."""

    classes: list[str]
    train: list[VideoRecord]
    test: list[VideoRecord]
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def all_records(self) -> list[VideoRecord]:
        """Train then test records."""
        return [*self.train, *self.test]


def _require_dir(path: Path, layout: str, what: str) -> None:
    if not path.is_dir():
        raise _layout_error(f"{what} not found: {path}", layout)


def _check_split_number(split: int, name: str) -> None:
    if split not in (1, 2, 3):
        raise ConfigError(f"dataset.split={split} for {name}: the official splits are 1, 2 and 3")


_UCF101_GROUP = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)


def read_ucf101_classes(split_dir: Path) -> list[str]:
    """Class names in ``classInd.txt`` order (its ids must be 1..N without gaps)."""
    path = split_dir / "classInd.txt"
    if not path.is_file():
        raise _layout_error(f"UCF101 class index not found: {path}", UCF101_LAYOUT)
    entries: dict[int, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise _layout_error(f"{path}:{lineno}: expected `<id> <ClassName>`, got {line!r}", UCF101_LAYOUT)
        entries[int(parts[0])] = parts[1]
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise _layout_error(f"{path}: class ids must run 1..N without gaps, got {sorted(entries)[:5]}...", UCF101_LAYOUT)
    return [entries[i] for i in range(1, len(entries) + 1)]


def _read_ucf101_list(path: Path, index: dict[str, int]) -> list[VideoRecord]:
    if not path.is_file():
        raise _layout_error(f"UCF101 split list not found: {path}", UCF101_LAYOUT)
    records = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        rel = parts[0].replace("\\", "/")
        class_name = rel.split("/")[0] if "/" in rel else ""
        if class_name not in index:
            raise _layout_error(
                f"{path}:{lineno}: {rel!r} is not under a class folder named in classInd.txt", UCF101_LAYOUT
            )
        label = index[class_name]
        # re-hosted copies sometimes carry a label column: it must agree with classInd.txt
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) - 1 != label:
            raise _layout_error(
                f"{path}:{lineno}: label {parts[1]} disagrees with classInd.txt ({class_name} = {label + 1})",
                UCF101_LAYOUT,
            )
        match = _UCF101_GROUP.search(Path(rel).stem)
        records.append(VideoRecord(rel, label, class_name, int(match.group(1)) if match else None))
    if not records:
        raise _layout_error(f"{path} lists no videos", UCF101_LAYOUT)
    return records


def parse_ucf101(video_dir: str | Path, split_dir: str | Path, split: int = 1) -> DatasetSplit:
    """UCF101 split ``split`` (1-3) from ``classInd.txt`` and ``{train,test}list0N.txt``.

    Only the first column of each list line is trusted; the label comes from the class folder through
    ``classInd.txt`` (a label column, where present, must agree).
    """
    _check_split_number(split, "UCF101")
    video_dir, split_dir = Path(video_dir), Path(split_dir)
    _require_dir(video_dir, UCF101_LAYOUT, "UCF101 video folder")
    _require_dir(split_dir, UCF101_LAYOUT, "UCF101 split folder")
    classes = read_ucf101_classes(split_dir)
    index = {c: i for i, c in enumerate(classes)}
    train = _read_ucf101_list(split_dir / f"trainlist0{split}.txt", index)
    test = _read_ucf101_list(split_dir / f"testlist0{split}.txt", index)
    _check_disjoint(train, test, split_dir)
    return DatasetSplit(classes, train, test, {"dataset": "ucf101", "split": split})


_HMDB_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>[123])\.txt$")


def parse_hmdb51(video_dir: str | Path, split_dir: str | Path, split: int = 1) -> DatasetSplit:
    """HMDB51 split ``split`` (1-3) from ``testTrainMulti_7030_splits/<class>_test_split<k>.txt``.

    Tag 1 = train, 2 = test, 0 = unused (dropped). Classes are the sorted class names of the split files.
    """
    _check_split_number(split, "HMDB51")
    video_dir, split_dir = Path(video_dir), Path(split_dir)
    _require_dir(video_dir, HMDB51_LAYOUT, "HMDB51 video folder")
    _require_dir(split_dir, HMDB51_LAYOUT, "HMDB51 split folder")
    files = {}
    for p in split_dir.iterdir():
        m = _HMDB_SPLIT_FILE.match(p.name)
        if m and int(m.group("k")) == split:
            files[m.group("cls")] = p
    if not files:
        raise _layout_error(f"{split_dir} has no `<class>_test_split{split}.txt` files", HMDB51_LAYOUT)
    classes = sorted(files)
    train, test = [], []
    for label, cls in enumerate(classes):
        for lineno, line in enumerate(files[cls].read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise _layout_error(
                    f"{files[cls]}:{lineno}: expected `<video>.avi <0|1|2>`, got {line.strip()!r}", HMDB51_LAYOUT
                )
            if parts[1] == "0":
                continue
            record = VideoRecord(f"{cls}/{parts[0]}", label, cls, None)
            (train if parts[1] == "1" else test).append(record)
    if not train or not test:
        raise _layout_error(f"{split_dir}: split {split} has {len(train)} train and {len(test)} test videos",
                            HMDB51_LAYOUT)
    _check_disjoint(train, test, split_dir)
    return DatasetSplit(classes, train, test, {"dataset": "hmdb51", "split": split})


_UCF11_GROUP_DIR = re.compile(r"^v_(?P<short>.+)_(?P<group>\d{2})$")


def scan_ucf11(video_dir: str | Path) -> tuple[list[str], list[VideoRecord]]:
    """Every clip of the UCF11 archive layout, with its group parsed from ``v_<short>_<GG>``."""
    video_dir = Path(video_dir)
    _require_dir(video_dir, UCF11_LAYOUT, "UCF11 video folder")
    classes = sorted(p.name for p in video_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise _layout_error(f"{video_dir} has no class folders", UCF11_LAYOUT)
    records = []
    for label, cls in enumerate(classes):
        n_before = len(records)
        for group_dir in sorted((video_dir / cls).iterdir()):
            if not group_dir.is_dir() or group_dir.name == "Annotation":
                continue
            m = _UCF11_GROUP_DIR.match(group_dir.name)
            if not m:
                raise _layout_error(f"{group_dir}: group folders must be named v_<short>_<GG>", UCF11_LAYOUT)
            for clip in sorted(group_dir.iterdir()):
                if clip.suffix.lower() in VIDEO_EXTENSIONS:
                    records.append(VideoRecord(f"{cls}/{group_dir.name}/{clip.name}", label, cls, int(m["group"])))
        if len(records) == n_before:
            raise _layout_error(f"{video_dir / cls}: no clips in v_<short>_<GG>/ group folders", UCF11_LAYOUT)
    return classes, records


def parse_ucf11(
    video_dir: str | Path,
    protocol: str = "logo",
    fold: int = 1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> DatasetSplit:
    """UCF11 train/test by group, never by clip (clips of a group share actor and background).

    ``protocol='logo'``: leave-one-group-out, group ``fold`` (1..25) of every class is the test set; sweep
    ``dataset.fold=1,...,25`` and report mean +- std. ``protocol='random'``: for every class, a seeded random
    ``test_fraction`` of its groups (at least one) is the test set.
    """
    classes, records = scan_ucf11(video_dir)
    groups = sorted({r.group for r in records if r.group is not None})
    if protocol == "logo":
        if fold not in groups:
            raise ConfigError(f"dataset.fold={fold}: UCF11 leave-one-group-out folds are the groups {groups}")
        test_groups = {(c, fold) for c in range(len(classes))}
    elif protocol == "random":
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"dataset.test_fraction={test_fraction} must lie in (0, 1)")
        rng = np.random.default_rng(seed)
        test_groups = set()
        for c in range(len(classes)):
            own = sorted({r.group for r in records if r.label == c})
            n_test = max(1, int(round(test_fraction * len(own))))
            test_groups |= {(c, int(g)) for g in rng.permutation(own)[:n_test]}
    else:
        raise ConfigError(f"dataset.protocol={protocol!r}: choose 'logo' (leave-one-group-out) or 'random'")
    train = [r for r in records if (r.label, r.group) not in test_groups]
    test = [r for r in records if (r.label, r.group) in test_groups]
    info = {"dataset": "ucf11", "protocol": protocol, "fold": fold if protocol == "logo" else None}
    return DatasetSplit(classes, train, test, info)


def _check_disjoint(train: Sequence[VideoRecord], test: Sequence[VideoRecord], where: Path) -> None:
    overlap = {r.path for r in train} & {r.path for r in test}
    if overlap:
        raise DatasetLayoutError(f"{where}: {len(overlap)} videos are in both train and test, e.g. {min(overlap)}")


def carve_validation(
    records: Sequence[VideoRecord], fraction: float, seed: int
) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """Hold out ``fraction`` of the training records per class, by whole groups where groups exist.

    Returns ``(train, val)``. Holding out whole UCF groups keeps a group's actor/background out of training,
    as the official test split does; HMDB51 records (no group) are held out one by one, stratified by class.
    """
    if fraction <= 0:
        return list(records), []
    if fraction >= 1:
        raise ConfigError(f"dataset.val_fraction={fraction} must be < 1")
    rng = np.random.default_rng(seed)
    units: dict[int, dict[object, list[VideoRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        units[r.label][r.group if r.group is not None else r.path].append(r)
    held: set[str] = set()
    for label in sorted(units):
        keys = sorted(units[label], key=str)
        if len(keys) < 2:
            continue
        n_held = min(len(keys) - 1, max(1, int(round(fraction * len(keys)))))
        for i in rng.permutation(len(keys))[:n_held]:
            held |= {r.path for r in units[label][keys[i]]}
    return [r for r in records if r.path not in held], [r for r in records if r.path in held]
