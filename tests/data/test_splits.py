"""Split parsing of the three official layouts, on generated fixtures and hand-written malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from har_vib.data.splits import (
    DatasetLayoutError,
    VideoRecord,
    carve_validation,
    parse_hmdb51,
    parse_ucf11,
    parse_ucf101,
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
    records = [VideoRecord(f"c{c}/g{g}_{k}.avi", c, f"c{c}", g) for c in range(2) for g in range(1, 6) for k in range(3)]
    train, val = carve_validation(records, 0.2, seed=0)
    assert len(train) + len(val) == len(records)
    for c in range(2):
        val_groups = {r.group for r in val if r.label == c}
        assert len(val_groups) == 1
        assert val_groups.isdisjoint({r.group for r in train if r.label == c})
    ungrouped = [VideoRecord(f"c/{i}.avi", i % 2, "c", None) for i in range(10)]
    train, val = carve_validation(ungrouped, 0.2, seed=0)
    assert len(val) == 2 and {r.label for r in val} == {0, 1}
