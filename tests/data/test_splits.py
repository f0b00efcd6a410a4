"""Split parsing of the three official layouts, on generated fixtures and hand-written malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from har_vib.data.splits import (
    DatasetLayoutError,
    VideoRecord,
    carve_validation,
    is_hidden,
    parse_hmdb51,
    parse_ucf11,
    parse_ucf101,
    resolve_ucf11_video_dir,
    scan_ucf11,
)
from har_vib.errors import ConfigError


def _ucf101(root: Path, split: int = 1):
    return parse_ucf101(root / "UCF-101", root / "ucfTrainTestlist", split)


def test_ucf101_split_follows_classind_and_groups(video_roots):
    root = video_roots["ucf101"]
    classes = (root / "ucfTrainTestlist" / "classInd.txt").read_text().split()[1::2]
    for split in (1, 2, 3):
        s = _ucf101(root, split)
        assert s.classes == classes
        assert len(s.train) + len(s.test) == 3 * 4 * 2
        assert {r.group for r in s.train}.isdisjoint({r.group for r in s.test})  # split by group
        for r in s.all_records():
            assert r.label == classes.index(r.class_name)
            assert (root / "UCF-101" / r.path).is_file()
    assert {r.group for r in _ucf101(root, 1).test} == {1}  # 7/25 of 4 groups rounds to one group


def test_ucf101_label_column_must_agree(tmp_path, video_roots):
    root = video_roots["ucf101"]
    split_dir = tmp_path / "lists"
    split_dir.mkdir()
    for f in (root / "ucfTrainTestlist").iterdir():
        (split_dir / f.name).write_text(f.read_text())
    lines = (split_dir / "trainlist01.txt").read_text().splitlines()
    path, label = lines[0].split()
    lines[0] = f"{path} {int(label) + 1}"
    (split_dir / "trainlist01.txt").write_text("\n".join(lines))
    with pytest.raises(DatasetLayoutError, match=r"trainlist01.txt:1: label .* disagrees"):
        parse_ucf101(root / "UCF-101", split_dir, 1)


def test_ucf101_classind_gap_is_an_error(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "classInd.txt").write_text("1 A\n3 B\n")
    with pytest.raises(DatasetLayoutError, match="without gaps"):
        parse_ucf101(tmp_path / "videos", tmp_path / "lists", 1)


def test_missing_dataset_error_shows_layout_and_source(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        parse_ucf101(tmp_path / "nope" / "UCF-101", tmp_path / "nope" / "ucfTrainTestlist", 1)
    message = str(err.value)
    assert "UCF101 video folder not found" in message
    assert "classInd.txt" in message and "crcv.ucf.edu" in message and "make_synthetic_videos" in message
    with pytest.raises(DatasetLayoutError, match="action_youtube_naudio"):
        parse_ucf11(tmp_path / "missing")
    with pytest.raises(ConfigError, match="splits are 1, 2 and 3"):
        _ucf101(tmp_path, 4)


def test_hmdb51_tags(video_roots):
    root = video_roots["hmdb51"]
    s = parse_hmdb51(root / "videos", root / "testTrainMulti_7030_splits", 2)
    assert s.classes == sorted(s.classes) and s.num_classes == 3
    tags = {}
    for f in (root / "testTrainMulti_7030_splits").glob("*_test_split2.txt"):
        cls = f.name[: -len("_test_split2.txt")]
        for line in f.read_text().splitlines():
            name, tag = line.split()
            tags[f"{cls}/{name}"] = tag
    assert {r.path for r in s.train} == {p for p, t in tags.items() if t == "1"}
    assert {r.path for r in s.test} == {p for p, t in tags.items() if t == "2"}
    unused = {p for p, t in tags.items() if t == "0"}
    assert unused and unused.isdisjoint(r.path for r in s.all_records())  # tag 0 dropped
    assert all(r.group is None for r in s.all_records())


def test_hmdb51_malformed_line(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "brush_hair_test_split1.txt").write_text("a.avi 1\nb.avi 3\n")
    with pytest.raises(DatasetLayoutError, match=r"brush_hair_test_split1.txt:2"):
        parse_hmdb51(tmp_path / "v", tmp_path / "s", 1)


def test_ucf11_groups_short_names_and_annotation(video_roots):
    video_dir = video_roots["ucf11"] / "action_youtube_naudio"
    classes, records = scan_ucf11(video_dir)
    assert classes == ["basketball", "biking", "diving"]
    assert len(records) == 3 * 4 * 2
    assert (video_dir / "basketball" / "Annotation").is_dir()
    assert all("Annotation" not in r.path for r in records)
    shooting = [r for r in records if r.class_name == "basketball"]
    assert all(Path(r.path).name.startswith("v_shooting_") for r in shooting)  # short name != class folder


@pytest.mark.parametrize("fold", [1, 3])
def test_ucf11_leave_one_group_out(video_roots, fold):
    s = parse_ucf11(video_roots["ucf11"] / "action_youtube_naudio", "logo", fold)
    assert {r.group for r in s.test} == {fold}
    assert fold not in {r.group for r in s.train}
    assert len(s.test) == 3 * 2


def test_ucf11_random_protocol_is_groupwise_and_seeded(video_roots):
    video_dir = video_roots["ucf11"] / "action_youtube_naudio"
    a = parse_ucf11(video_dir, "random", test_fraction=0.25, seed=1)
    b = parse_ucf11(video_dir, "random", test_fraction=0.25, seed=1)
    assert [r.path for r in a.test] == [r.path for r in b.test]
    for c in range(3):
        test_groups = {r.group for r in a.test if r.label == c}
        train_groups = {r.group for r in a.train if r.label == c}
        assert len(test_groups) == 1 and test_groups.isdisjoint(train_groups)
    with pytest.raises(ConfigError, match="fold=26"):
        parse_ucf11(video_dir, "logo", 26)
    with pytest.raises(ConfigError, match="protocol"):
        parse_ucf11(video_dir, "kfold")


def test_carve_validation_holds_out_whole_groups():
    records = [
        VideoRecord(f"c{c}/g{g}_{k}.avi", c, f"c{c}", g) for c in range(2) for g in range(1, 6) for k in range(3)
    ]
    train, val = carve_validation(records, 0.2, seed=0)
    assert len(train) + len(val) == len(records)
    for c in range(2):
        val_groups = {r.group for r in val if r.label == c}
        assert len(val_groups) == 1
        assert val_groups.isdisjoint({r.group for r in train if r.label == c})
    ungrouped = [VideoRecord(f"c/{i}.avi", i % 2, "c", None) for i in range(10)]
    train, val = carve_validation(ungrouped, 0.2, seed=0)
    assert len(val) == 2 and {r.label for r in val} == {0, 1}


# ---------------------------------------------------------------- archives as shipped: releases, junk, line endings
UCF11_SHORT = {"basketball": "shooting", "biking": "biking"}
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "  # what a macOS ._* file starts with


def _ucf11_tree(video_dir: Path, ext: str = ".avi", groups: int = 2, clips: int = 2) -> Path:
    """A tiny UCF11 release: empty clip files (parsing never decodes them) and an Annotation folder per class."""
    for cls, short in UCF11_SHORT.items():
        (video_dir / cls / "Annotation").mkdir(parents=True)
        (video_dir / cls / "Annotation" / f"v_{short}_01_01.xgtf").write_text("<viper/>\n")
        for g in range(1, groups + 1):
            group_dir = video_dir / cls / f"v_{short}_{g:02d}"
            group_dir.mkdir()
            for c in range(1, clips + 1):
                (group_dir / f"v_{short}_{g:02d}_{c:02d}{ext}").touch()
    return video_dir


@pytest.mark.parametrize("release, ext", [("action_youtube_naudio", ".avi"), ("UCF11_updated_mpg", ".mpg")])
def test_resolve_ucf11_finds_either_release(tmp_path, release, ext):
    video_dir = _ucf11_tree(tmp_path / release, ext)
    assert resolve_ucf11_video_dir(tmp_path) == video_dir  # dataset.root = the folder holding the release
    assert resolve_ucf11_video_dir(video_dir) == video_dir  # dataset.root = the folder of class folders
    classes, records = scan_ucf11(video_dir)
    assert classes == ["basketball", "biking"] and len(records) == 2 * 2 * 2
    assert all(r.path.endswith(ext) for r in records)
    s = parse_ucf11(resolve_ucf11_video_dir(tmp_path), "logo", 2)
    assert {r.group for r in s.test} == {2} and len(s.test) == 2 * 2


def test_resolve_ucf11_follows_an_archive_unpacked_into_its_own_name(tmp_path):
    inner = _ucf11_tree(tmp_path / "UCF11_updated_mpg" / "UCF11_updated_mpg", ".mpg")
    assert resolve_ucf11_video_dir(tmp_path) == inner
    assert resolve_ucf11_video_dir(tmp_path / "UCF11_updated_mpg") == inner
    # the same mistake made through dataset.video_dir is named, with the folder to use
    with pytest.raises(DatasetLayoutError, match=f"dataset.video_dir={inner}"):
        scan_ucf11(tmp_path / "UCF11_updated_mpg")


def test_resolve_ucf11_with_both_releases_asks_to_pick_one(tmp_path):
    old = _ucf11_tree(tmp_path / "action_youtube_naudio", ".avi")
    new = _ucf11_tree(tmp_path / "UCF11_updated_mpg", ".mpg")
    with pytest.raises(DatasetLayoutError) as err:
        resolve_ucf11_video_dir(tmp_path)
    message = str(err.value)
    assert f"dataset.video_dir={old}" in message and f"dataset.video_dir={new}" in message


@pytest.mark.parametrize("missing", [False, True])
def test_resolve_ucf11_without_videos_names_the_overrides(tmp_path, missing):
    root = tmp_path / ("nope" if missing else "empty")
    if not missing:
        (root / "some_class" / "clips").mkdir(parents=True)  # a folder tree, but not UCF11's
        (root / ".ipynb_checkpoints" / "v_shooting_01").mkdir(parents=True)  # hidden: not a class folder
    with pytest.raises(DatasetLayoutError) as err:
        resolve_ucf11_video_dir(root)
    message = str(err.value)
    assert str(root) in message and "dataset.root=" in message and "dataset.video_dir=" in message
    assert "action_youtube_naudio/<class>/v_<short>_<GG>/" in message  # both releases' layouts are shown
    assert "UCF11_updated_mpg/<class>/v_<short>_<GG>/" in message


def test_is_hidden():
    for name in (".DS_Store", "._v_x_01_01.avi", ".ipynb_checkpoints", ".tmp-123-v_x_01_02.avi"):
        assert is_hidden(name)
    for name in ("v_x_01_01.avi", "basketball", "Annotation", "brush_hair_test_split1.txt"):
        assert not is_hidden(name)


def test_ucf11_ignores_hidden_entries(tmp_path):
    video_dir = _ucf11_tree(tmp_path / "UCF11_updated_mpg", ".mpg")
    expected = scan_ucf11(video_dir)
    cls, group = video_dir / "basketball", video_dir / "basketball" / "v_shooting_01"
    for folder in (tmp_path, video_dir, cls, group):
        (folder / ".DS_Store").write_bytes(b"Bud1")
    for folder in (video_dir, cls, group):  # Jupyter's checkpoint folders, with a checkpoint copy inside
        (folder / ".ipynb_checkpoints").mkdir()
        (folder / ".ipynb_checkpoints" / "v_shooting_01_01-checkpoint.mpg").touch()
    (group / "._v_shooting_01_01.mpg").write_bytes(APPLEDOUBLE)  # a video extension, but macOS metadata
    (group / ".tmp-123-v_shooting_01_02.mpg").touch()  # an interrupted writer's leftover
    (cls / ".tmp-456-v_shooting_03").mkdir()  # an interrupted group folder
    (cls / ".tmp-456-v_shooting_03" / "v_shooting_03_01.mpg").touch()
    assert scan_ucf11(video_dir) == expected
    assert resolve_ucf11_video_dir(tmp_path) == video_dir
    assert resolve_ucf11_video_dir(video_dir) == video_dir


def test_ucf11_annotation_folder_in_any_case_and_non_videos_are_ignored(tmp_path):
    video_dir = _ucf11_tree(tmp_path / "v", ".mpg")
    expected = scan_ucf11(video_dir)
    (video_dir / "biking" / "Annotation").rename(video_dir / "biking" / "annotation")
    (video_dir / "biking" / "v_biking_01" / "Thumbs.db").touch()
    (video_dir / "biking" / "v_biking_01" / "notes.txt").touch()
    assert scan_ucf11(video_dir) == expected


def _hmdb51_tree(root: Path) -> tuple[Path, Path]:
    video_dir, split_dir = root / "videos", root / "testTrainMulti_7030_splits"
    video_dir.mkdir(parents=True)
    split_dir.mkdir()
    for cls in ("brush_hair", "cartwheel"):
        (split_dir / f"{cls}_test_split1.txt").write_text(f"{cls}_a.avi 1 \n{cls}_b.avi 2 \n{cls}_c.avi 0 \n")
    return video_dir, split_dir


def test_hmdb51_ignores_hidden_split_files(tmp_path):
    video_dir, split_dir = _hmdb51_tree(tmp_path)
    expected = parse_hmdb51(video_dir, split_dir, 1)
    (split_dir / "._brush_hair_test_split1.txt").write_bytes(APPLEDOUBLE)
    (split_dir / ".tmp-123-brush_hair_test_split1.txt").write_text("brush_hair_a.avi 2\n")
    (split_dir / ".DS_Store").write_bytes(b"Bud1")
    (split_dir / ".ipynb_checkpoints").mkdir()
    (split_dir / ".ipynb_checkpoints" / "brush_hair_test_split1-checkpoint.txt").write_text("x.avi 1\n")
    s = parse_hmdb51(video_dir, split_dir, 1)
    assert s.classes == expected.classes == ["brush_hair", "cartwheel"]
    assert s.train == expected.train and s.test == expected.test


def test_hmdb51_split_files_with_crlf_trailing_spaces_and_bom(tmp_path):
    video_dir, split_dir = _hmdb51_tree(tmp_path)
    expected = parse_hmdb51(video_dir, split_dir, 1)
    for f in split_dir.iterdir():  # as re-saved by a Windows editor
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b" \t\r\n"))
    s = parse_hmdb51(video_dir, split_dir, 1)
    assert (s.classes, s.train, s.test) == (expected.classes, expected.train, expected.test)
    assert {r.path for r in s.all_records()} == {
        "brush_hair/brush_hair_a.avi",
        "brush_hair/brush_hair_b.avi",
        "cartwheel/cartwheel_a.avi",
        "cartwheel/cartwheel_b.avi",
    }


def test_ucf101_lists_with_crlf_and_bom(tmp_path, video_roots):
    root = video_roots["ucf101"]
    expected = _ucf101(root, 1)
    split_dir = tmp_path / "lists"
    split_dir.mkdir()
    for f in (root / "ucfTrainTestlist").iterdir():
        (split_dir / f.name).write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n"))
    s = parse_ucf101(root / "UCF-101", split_dir, 1)
    assert (s.classes, s.train, s.test) == (expected.classes, expected.train, expected.test)


def _make(root: Path, entries: dict[str, str | None]) -> None:
    """Folders (value None) and text files under ``root``."""
    for rel, text in entries.items():
        if text is None:
            (root / rel).mkdir(parents=True)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)


# id: (what is on disk, the parse call, the override keys its error must name)
LAYOUT_PROBLEMS = {
    "ucf101-no-videos": ({}, lambda r: parse_ucf101(r / "UCF-101", r, 1), ["dataset.root=", "dataset.video_dir="]),
    "ucf101-no-lists": (
        {"v": None},
        lambda r: parse_ucf101(r / "v", r / "l", 1),
        ["dataset.root=", "dataset.split_dir="],
    ),
    "ucf101-no-classind": ({"v": None, "l": None}, lambda r: parse_ucf101(r / "v", r / "l", 1), ["dataset.split_dir="]),
    "ucf101-bad-line": (
        {"v": None, "l/classInd.txt": "1 A\n2 B\n", "l/trainlist01.txt": "C/v_C_g01_c01.avi\n"},
        lambda r: parse_ucf101(r / "v", r / "l", 1),
        ["dataset.split_dir"],
    ),
    "hmdb51-no-videos": ({}, lambda r: parse_hmdb51(r / "videos", r, 1), ["dataset.root=", "dataset.video_dir="]),
    "hmdb51-no-splits": (
        {"v": None},
        lambda r: parse_hmdb51(r / "v", r / "s", 1),
        ["dataset.root=", "dataset.split_dir="],
    ),
    "hmdb51-no-split-files": (
        {"v": None, "s": None},
        lambda r: parse_hmdb51(r / "v", r / "s", 1),
        ["dataset.split_dir="],
    ),
    "hmdb51-no-test": (
        {"v": None, "s/a_test_split1.txt": "x.avi 1\n"},
        lambda r: parse_hmdb51(r / "v", r / "s", 1),
        ["dataset.split_dir"],
    ),
    "ucf11-no-videos": (
        {},
        lambda r: parse_ucf11(r / "action_youtube_naudio"),
        ["dataset.root=", "dataset.video_dir="],
    ),
    "ucf11-no-classes": ({"v": None}, lambda r: scan_ucf11(r / "v"), ["dataset.video_dir="]),
    "ucf11-bad-group": ({"v/basketball/shooting_01": None}, lambda r: scan_ucf11(r / "v"), ["dataset.video_dir="]),
    "ucf11-no-clips": ({"v/basketball/v_shooting_01": None}, lambda r: scan_ucf11(r / "v"), ["dataset.video_dir="]),
}


@pytest.mark.parametrize("problem", LAYOUT_PROBLEMS)
def test_layout_errors_name_the_override(tmp_path, problem):
    entries, parse, keys = LAYOUT_PROBLEMS[problem]
    _make(tmp_path, entries)
    with pytest.raises(DatasetLayoutError) as err:
        parse(tmp_path)
    message = str(err.value)
    assert all(key in message for key in keys), message
    assert "Expected layout:" in message


def test_two_files_of_one_clip_are_refused(tmp_path):
    """`.mpg` and `.avi` of the same clip side by side would share one flow folder and one feature entry."""
    group = tmp_path / "UCF11_updated_mpg" / "biking" / "v_biking_01"
    group.mkdir(parents=True)
    for name in ("v_biking_01_01.mpg", "v_biking_01_01.avi", "v_biking_01_02.mpg"):
        (group / name).write_bytes(b"x")
    with pytest.raises(DatasetLayoutError, match=r"v_biking_01_01.avi and .*v_biking_01_01.mpg are one video id"):
        parse_ucf11(tmp_path / "UCF11_updated_mpg", fold=1)


def test_a_class_folder_as_root_points_at_its_parent(tmp_path):
    group = tmp_path / "UCF11_updated_mpg" / "basketball" / "v_shooting_01"
    group.mkdir(parents=True)
    (group / "v_shooting_01_01.mpg").write_bytes(b"x")
    with pytest.raises(DatasetLayoutError, match=r"one UCF11 class folder[\s\S]*dataset.root=.*UCF11_updated_mpg"):
        resolve_ucf11_video_dir(group.parent)
