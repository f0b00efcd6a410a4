"""Official train/test splits of UCF101, HMDB51 and UCF11, parsed into :class:`VideoRecord` lists.

Labels are 0-based. Class order: ``classInd.txt`` for UCF101, sorted class names for HMDB51 and UCF11.
Parsing reads the split files only (it never decodes a video); a video listed there but missing on disk is
skipped later, with its reason, by whatever reads it. Every folder scan skips hidden entries (:func:`is_hidden`).
Every layout error says what is wrong, where, and which override fixes it (``dataset.root``, ``dataset.video_dir``,
``dataset.split_dir``), then shows the expected layout.
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
Get it with `python scripts/get_data.py ucf101 --root <root>` (the archives of
https://www.crcv.ucf.edu/data/UCF101.php), or generate a stand-in with
`python scripts/make_synthetic_videos.py --layout ucf101 --out <root>`."""

HMDB51_LAYOUT = """\
  <root>/videos/<class>/<name>.avi                             (hmdb51_org.rar, each class .rar unpacked)
  <root>/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   (test_train_splits.rar)
  each split line: `<name>.avi <tag>` with tag 1 = train, 2 = test, 0 = unused
Get it with `python scripts/get_data.py hmdb51 --root <root>` (the archives of
https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/), or generate a stand-in with
`python scripts/make_synthetic_videos.py --layout hmdb51 --out <root>`."""

UCF11_RELEASES = ("action_youtube_naudio", "UCF11_updated_mpg")

UCF11_LAYOUT = """\
  <root>/UCF11_updated_mpg/<class>/v_<short>_<GG>/v_<short>_<GG>_<CC>.mpg       (UCF11_updated_mpg.rar)
  <root>/action_youtube_naudio/<class>/v_<short>_<GG>/v_<short>_<GG>_<CC>.avi   (older action_youtube_naudio.zip)
  <class>/Annotation/ folders and hidden entries (.DS_Store, ._*, .ipynb_checkpoints) are ignored
  11 classes (basketball, biking, ..., walking), 25 groups GG = 01..25 per class
  keep one release under <root>, or set dataset.video_dir=<the folder of the class folders>
Get it with `python scripts/get_data.py ucf11 --root <root>` (the UCF11_updated_mpg.rar of
https://www.crcv.ucf.edu/data/UCF_YouTube_Action.php), or generate a stand-in with
`python scripts/make_synthetic_videos.py --layout ucf11 --out <root>`."""

# the override that fixes each kind of layout problem
_UCF101_VIDEO_FIX = "set dataset.root=<folder holding UCF-101/>, or dataset.video_dir=<folder of the class folders>"
_UCF101_SPLIT_FIX = (
    "set dataset.root=<folder holding ucfTrainTestlist/>, or dataset.split_dir=<folder holding classInd.txt>"
)
_UCF101_LIST_FIX = "point dataset.split_dir at the official lists (ucfTrainTestlist/ of the splits zip)"
_HMDB51_VIDEO_FIX = "set dataset.root=<folder holding videos/>, or dataset.video_dir=<folder of the class folders>"
_HMDB51_SPLIT_FIX = (
    "set dataset.root=<folder holding testTrainMulti_7030_splits/>, or dataset.split_dir=<folder of the split files>"
)
_HMDB51_LIST_FIX = "point dataset.split_dir at the official split files (testTrainMulti_7030_splits/)"
_UCF11_FIX = (
    "set dataset.root=<folder holding action_youtube_naudio/ or UCF11_updated_mpg/>, "
    "or dataset.video_dir=<folder of the class folders>"
)


class DatasetLayoutError(ConfigError):
    """A dataset folder is missing or does not have the layout its parser expects."""


def _layout_error(what: str, fix: str, layout: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"{what}\nFix: {fix}\nExpected layout:\n{layout}")


def is_hidden(name: str) -> bool:
    """Whether a folder entry is hidden junk to skip: ``.DS_Store``, macOS ``._*`` files, ``.ipynb_checkpoints``,
    a generator's ``.tmp-*`` leftovers (any name starting with '.')."""
    return name.startswith(".")


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` that are not hidden, sorted."""
    return sorted(p for p in folder.iterdir() if not is_hidden(p.name))


def _read_lines(path: Path) -> list[str]:
    """Lines of a split file, whatever its line endings (LF, CRLF) and with a UTF-8 BOM dropped."""
    return path.read_text(encoding="utf-8-sig").splitlines()


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


def _require_dir(path: Path, what: str, fix: str, layout: str) -> None:
    if not path.is_dir():
        raise _layout_error(f"{what} not found: {path}", fix, layout)


def _check_split_number(split: int, name: str) -> None:
    if split not in (1, 2, 3):
        raise ConfigError(f"dataset.split={split} for {name}: the official splits are 1, 2 and 3")


_UCF101_GROUP = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)


def read_ucf101_classes(split_dir: Path) -> list[str]:
    """Class names in ``classInd.txt`` order (its ids must be 1..N without gaps)."""
    path = split_dir / "classInd.txt"
    if not path.is_file():
        raise _layout_error(f"UCF101 class index not found: {path}", _UCF101_SPLIT_FIX, UCF101_LAYOUT)
    entries: dict[int, str] = {}
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise _layout_error(
                f"{path}:{lineno}: expected `<id> <ClassName>`, got {line!r}", _UCF101_LIST_FIX, UCF101_LAYOUT
            )
        entries[int(parts[0])] = parts[1]
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise _layout_error(
            f"{path}: class ids must run 1..N without gaps, got {sorted(entries)[:5]}...",
            _UCF101_LIST_FIX,
            UCF101_LAYOUT,
        )
    return [entries[i] for i in range(1, len(entries) + 1)]


def _read_ucf101_list(path: Path, index: dict[str, int]) -> list[VideoRecord]:
    if not path.is_file():
        raise _layout_error(f"UCF101 split list not found: {path}", _UCF101_SPLIT_FIX, UCF101_LAYOUT)
    records = []
    for lineno, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        rel = parts[0].replace("\\", "/")
        class_name = rel.split("/")[0] if "/" in rel else ""
        if class_name not in index:
            raise _layout_error(
                f"{path}:{lineno}: {rel!r} is not under a class folder named in classInd.txt",
                _UCF101_LIST_FIX,
                UCF101_LAYOUT,
            )
        label = index[class_name]
        # re-hosted copies sometimes carry a label column: it must agree with classInd.txt
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) - 1 != label:
            raise _layout_error(
                f"{path}:{lineno}: label {parts[1]} disagrees with classInd.txt ({class_name} = {label + 1})",
                _UCF101_LIST_FIX,
                UCF101_LAYOUT,
            )
        match = _UCF101_GROUP.search(Path(rel).stem)
        records.append(VideoRecord(rel, label, class_name, int(match.group(1)) if match else None))
    if not records:
        raise _layout_error(f"{path} lists no videos", _UCF101_LIST_FIX, UCF101_LAYOUT)
    return records


def parse_ucf101(video_dir: str | Path, split_dir: str | Path, split: int = 1) -> DatasetSplit:
    """UCF101 split ``split`` (1-3) from ``classInd.txt`` and ``{train,test}list0N.txt``.

    Only the first column of each list line is trusted; the label comes from the class folder through
    ``classInd.txt`` (a label column, where present, must agree).
    """
    _check_split_number(split, "UCF101")
    video_dir, split_dir = Path(video_dir), Path(split_dir)
    _require_dir(video_dir, "UCF101 video folder", _UCF101_VIDEO_FIX, UCF101_LAYOUT)
    _require_dir(split_dir, "UCF101 split folder", _UCF101_SPLIT_FIX, UCF101_LAYOUT)
    classes = read_ucf101_classes(split_dir)
    index = {c: i for i, c in enumerate(classes)}
    train = _read_ucf101_list(split_dir / f"trainlist0{split}.txt", index)
    test = _read_ucf101_list(split_dir / f"testlist0{split}.txt", index)
    _check_disjoint(train, test, split_dir, _UCF101_LIST_FIX)
    _check_unique_ids([*train, *test], split_dir, _UCF101_LIST_FIX)
    return DatasetSplit(classes, train, test, {"dataset": "ucf101", "split": split})


_HMDB_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>[123])\.txt$")


def parse_hmdb51(video_dir: str | Path, split_dir: str | Path, split: int = 1) -> DatasetSplit:
    """HMDB51 split ``split`` (1-3) from ``testTrainMulti_7030_splits/<class>_test_split<k>.txt``.

    Tag 1 = train, 2 = test, 0 = unused (dropped). Classes are the sorted class names of the split files;
    hidden files in the split folder (``._*`` copies, ``.tmp-*`` leftovers) are ignored.
    """
    _check_split_number(split, "HMDB51")
    video_dir, split_dir = Path(video_dir), Path(split_dir)
    _require_dir(video_dir, "HMDB51 video folder", _HMDB51_VIDEO_FIX, HMDB51_LAYOUT)
    _require_dir(split_dir, "HMDB51 split folder", _HMDB51_SPLIT_FIX, HMDB51_LAYOUT)
    files = {}
    for p in _visible(split_dir):
        m = _HMDB_SPLIT_FILE.match(p.name)
        if m and int(m.group("k")) == split and p.is_file():
            files[m.group("cls")] = p
    if not files:
        raise _layout_error(
            f"{split_dir} has no `<class>_test_split{split}.txt` files", _HMDB51_SPLIT_FIX, HMDB51_LAYOUT
        )
    classes = sorted(files)
    train, test = [], []
    for label, cls in enumerate(classes):
        for lineno, line in enumerate(_read_lines(files[cls]), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise _layout_error(
                    f"{files[cls]}:{lineno}: expected `<video>.avi <0|1|2>`, got {line.strip()!r}",
                    _HMDB51_LIST_FIX,
                    HMDB51_LAYOUT,
                )
            if parts[1] == "0":
                continue
            record = VideoRecord(f"{cls}/{parts[0]}", label, cls, None)
            (train if parts[1] == "1" else test).append(record)
    if not train or not test:
        raise _layout_error(
            f"{split_dir}: split {split} has {len(train)} train and {len(test)} test videos",
            _HMDB51_LIST_FIX,
            HMDB51_LAYOUT,
        )
    _check_disjoint(train, test, split_dir, _HMDB51_LIST_FIX)
    _check_unique_ids([*train, *test], split_dir, _HMDB51_LIST_FIX)
    return DatasetSplit(classes, train, test, {"dataset": "hmdb51", "split": split})


_UCF11_GROUP_DIR = re.compile(r"^v_(?P<short>.+)_(?P<group>\d{2})$")


def _holds_ucf11_classes(folder: Path) -> bool:
    """Whether some visible subfolder of ``folder`` holds ``v_<short>_<GG>`` group folders (a class folder)."""
    return folder.is_dir() and any(
        _UCF11_GROUP_DIR.match(g.name) and g.is_dir() for c in _visible(folder) if c.is_dir() for g in _visible(c)
    )


def _unnest(folder: Path) -> Path:
    """``folder/<same name>`` when an archive was unpacked into a folder of its own name, else ``folder``."""
    inner = folder / folder.name
    return inner if not _holds_ucf11_classes(folder) and _holds_ucf11_classes(inner) else folder


def resolve_ucf11_video_dir(root: str | Path) -> Path:
    """The UCF11 folder of class folders under ``dataset.root``.

    ``root/action_youtube_naudio`` or ``root/UCF11_updated_mpg`` (either release; one unpacked into a folder of
    its own name, ``root/UCF11_updated_mpg/UCF11_updated_mpg``, is followed), else ``root`` itself when it holds
    the class folders. Both releases under one root is an error: pick one with ``dataset.video_dir``.
    """
    root = Path(root)
    _require_dir(root, "UCF11 dataset root", _UCF11_FIX, UCF11_LAYOUT)
    found = [_unnest(root / name) for name in UCF11_RELEASES if (root / name).is_dir()]
    if len(found) > 1:
        raise _layout_error(
            f"{root} holds both UCF11 releases, {' and '.join(f'{n}/' for n in UCF11_RELEASES)}",
            "pick one with " + " or ".join(f"dataset.video_dir={d}" for d in found),
            UCF11_LAYOUT,
        )
    if found:
        return found[0]
    if _holds_ucf11_classes(root):
        return root
    if any(_UCF11_GROUP_DIR.match(p.name) for p in _visible(root) if p.is_dir()):
        raise _layout_error(
            f"{root} is one UCF11 class folder (it holds v_<short>_<GG>/ group folders)",
            f"set dataset.root={root.parent} (the folder of all class folders)",
            UCF11_LAYOUT,
        )
    raise _layout_error(
        f"no UCF11 videos under {root}: neither {' nor '.join(f'{n}/' for n in UCF11_RELEASES)} nor class folders "
        "of v_<short>_<GG>/ group folders",
        _UCF11_FIX,
        UCF11_LAYOUT,
    )


def scan_ucf11(video_dir: str | Path) -> tuple[list[str], list[VideoRecord]]:
    """Every clip of the UCF11 archive layout, with its group parsed from ``v_<short>_<GG>``.

    ``video_dir`` is the folder of class folders (see :func:`resolve_ucf11_video_dir`). Hidden entries,
    ``Annotation`` folders (any case) and files that are not videos (``.avi``, ``.mpg``, ...) are ignored.
    """
    video_dir = Path(video_dir)
    _require_dir(video_dir, "UCF11 video folder", _UCF11_FIX, UCF11_LAYOUT)
    releases = [name for name in UCF11_RELEASES if (video_dir / name).is_dir()]
    if releases and not _holds_ucf11_classes(video_dir):
        raise _layout_error(
            f"{video_dir} holds the archive folder {releases[0]}/, not the class folders",
            f"set dataset.video_dir={_unnest(video_dir / releases[0])}",
            UCF11_LAYOUT,
        )
    classes = [p.name for p in _visible(video_dir) if p.is_dir()]
    if not classes:
        raise _layout_error(f"{video_dir} has no class folders", _UCF11_FIX, UCF11_LAYOUT)
    records = []
    for label, cls in enumerate(classes):
        n_before = len(records)
        for group_dir in _visible(video_dir / cls):
            if not group_dir.is_dir() or group_dir.name.lower() == "annotation":
                continue
            m = _UCF11_GROUP_DIR.match(group_dir.name)
            if not m:
                raise _layout_error(
                    f"{group_dir}: group folders must be named v_<short>_<GG>", _UCF11_FIX, UCF11_LAYOUT
                )
            for clip in _visible(group_dir):
                if clip.suffix.lower() in VIDEO_EXTENSIONS:
                    records.append(VideoRecord(f"{cls}/{group_dir.name}/{clip.name}", label, cls, int(m["group"])))
        if len(records) == n_before:
            raise _layout_error(
                f"{video_dir / cls}: no clips in v_<short>_<GG>/ group folders", _UCF11_FIX, UCF11_LAYOUT
            )
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
    _check_unique_ids(
        records,
        Path(video_dir),
        "keep one file per clip (e.g. only the .mpg release), or set dataset.video_dir=<one release's folder>",
    )
    return DatasetSplit(classes, train, test, info)


def _check_disjoint(train: Sequence[VideoRecord], test: Sequence[VideoRecord], where: Path, fix: str) -> None:
    overlap = {r.path for r in train} & {r.path for r in test}
    if overlap:
        raise DatasetLayoutError(
            f"{where}: {len(overlap)} videos are in both train and test, e.g. {min(overlap)}\nFix: {fix}"
        )


def _check_unique_ids(records: Sequence[VideoRecord], where: Path, fix: str) -> None:
    """Caches are keyed by video id (the path without extension): two files with one id would share an entry."""
    seen: dict[str, str] = {}
    for r in records:
        other = seen.setdefault(r.video_id, r.path)
        if other != r.path:
            raise DatasetLayoutError(
                f"{where}: {other} and {r.path} are one video id ({r.video_id}); their flow and features would share "
                f"one cache entry\nFix: {fix}"
            )


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
