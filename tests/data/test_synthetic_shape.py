"""UCF101's official shape in the synthetic generator: the full-size plan computed without rendering, a scaled-down
dataset that keeps every class and the split structure, and split files that the real parser reads."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from har_vib.data import synthetic
from har_vib.data.splits import parse_ucf101
from har_vib.data.synthetic import (
    SyntheticSpec,
    class_motions,
    class_patterns,
    generate,
    marker_text,
    plan_clips,
    ucf101_group_clips,
    ucf101_test_groups,
    write_layout,
)
from har_vib.data.video import frame_count
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_NAME = re.compile(r"(?P<cls>[A-Za-z]+)/v_(?P=cls)_g(?P<g>\d\d)_c(?P<c>\d\d)\.avi")


def _no_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the plan rendered or wrote a clip")

    monkeypatch.setattr(synthetic, "render_clip", refuse)
    monkeypatch.setattr(synthetic, "write_video", refuse)


def test_the_full_size_plan_has_the_official_counts_without_rendering(monkeypatch):
    _no_rendering(monkeypatch)
    plan = plan_clips(SyntheticSpec.official(scale=1))
    assert len(plan) == 13_320
    per_group = Counter((c.class_idx, c.group) for c in plan)
    assert len({c.class_idx for c in plan}) == 101
    assert len(per_group) == 101 * 25  # every class has all 25 groups
    assert set(per_group.values()) == {4, 5, 6, 7}
    assert ucf101_group_clips().sum() == 13_320 and ucf101_group_clips().shape == (101, 25)
    # clip numbers run 1..n in each group, in the official file names, all distinct
    clips: dict[tuple[int, int], list[int]] = {}
    for c in plan:
        m = OFFICIAL_NAME.fullmatch(c.relpath)
        assert m and int(m["g"]) == c.group and int(m["c"]) == c.clip, c.relpath
        clips.setdefault((c.class_idx, c.group), []).append(c.clip)
    assert all(sorted(ks) == list(range(1, len(ks) + 1)) for ks in clips.values())
    assert len({c.relpath for c in plan}) == 13_320
    # the official splits test groups 1-7, 8-14 and 15-21
    assert [sorted(ucf101_test_groups(25, k)) for k in (1, 2, 3)] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 22)),
    ]


def test_a_fraction_keeps_every_class_and_the_splits_and_thins_the_clips(monkeypatch):
    _no_rendering(monkeypatch)
    full = {c.relpath: c for c in plan_clips(SyntheticSpec.official(scale=1))}
    plan = plan_clips(SyntheticSpec.official(scale=0.1))
    assert len(plan) == 1_332
    # the clips of a fraction are clips of the full size, with the same frame counts
    assert all(full[c.relpath] == c for c in plan)
    per_class = Counter(c.class_idx for c in plan)
    full_class = Counter(c.class_idx for c in full.values())
    assert len(per_class) == 101
    assert all(abs(per_class[k] - 0.1 * full_class[k]) <= 1 for k in range(101))
    for k in (1, 2, 3):
        test_groups = ucf101_test_groups(25, k)
        test = [c for c in plan if c.group in test_groups]
        assert 0.25 < len(test) / len(plan) < 0.31  # 7 of 25 groups
        # every class is trained and tested in every split
        assert {c.class_idx for c in test} == set(range(101))
        assert {c.class_idx for c in plan if c.group not in test_groups} == set(range(101))


def test_the_smallest_fraction_has_a_clip_per_class_and_bad_scales_are_refused():
    assert len(plan_clips(SyntheticSpec.official(scale=0.0076))) == 101
    for bad in (0.005, 0.0, 1.5):
        with pytest.raises(ValueError, match="scale"):
            SyntheticSpec.official(scale=bad)
    with pytest.raises(ValueError, match="needs shape"):
        SyntheticSpec(scale=0.5)
    with pytest.raises(ValueError, match="num_classes=101"):
        SyntheticSpec(layout="hmdb51", num_classes=101, groups=25, clips_per_group=7, shape="ucf101")


def test_a_grid_spec_keeps_its_marker_and_cache_names():
    """``shape`` and ``scale`` are left out of the marker of a grid spec: the caches of earlier generated folders,
    named by a hash of the marker, are still found."""
    assert marker_text(SyntheticSpec()) == (
        "SyntheticSpec(layout='ucf101', num_classes=6, groups=7, clips_per_group=3, width=160, height=120, "
        "min_frames=24, max_frames=40, fps=25.0, seed=0, scene_bias=0.0) render=3"
    )
    assert "scale=0.1" in marker_text(SyntheticSpec.official(scale=0.1))


def test_classes_past_the_22_motions_are_the_motions_at_other_tempos():
    patterns = class_patterns(101)
    assert [(m, d) for m, d, _ in patterns[:22]] == class_motions(22) and {t for *_, t in patterns[:22]} == {1.0}
    assert patterns[22][:2] == patterns[0][:2] and patterns[22][2] != 1.0
    names = synthetic._class_names("ucf101", 101)
    assert len(set(names)) == 101 and all(n.isalpha() for n in names)
    assert names[:2] == ["SlideFwd", "BounceFwd"] and names[22] == "SlideFwdFast"
    with pytest.raises(ValueError):
        class_patterns(111)


def test_a_generated_fraction_is_read_by_the_official_parser(tmp_path):
    spec = SyntheticSpec.official(scale=0.0076, width=32, height=24, min_frames=4, max_frames=5)
    root = generate(spec, tmp_path / "ucf101", progress=False)
    plan = plan_clips(spec)
    lists = root / "ucfTrainTestlist"
    classes = (lists / "classInd.txt").read_text().splitlines()
    assert len(classes) == 101 and classes[0] == "1 SlideFwd"
    for k in (1, 2, 3):
        split = parse_ucf101(root / "UCF-101", lists, k)
        assert split.num_classes == 101
        assert sorted(r.path for r in split.all_records()) == sorted(c.relpath for c in plan)
        assert {r.group for r in split.test} <= ucf101_test_groups(25, k)
        # trainlist: `<Class>/<file> <label, 1-based>`; testlist: `<Class>/<file>` only
        for line in (lists / f"trainlist0{k}.txt").read_text().splitlines():
            rel, label = line.split()
            assert classes[int(label) - 1].split()[1] == rel.split("/")[0]
        assert all(len(line.split()) == 1 for line in (lists / f"testlist0{k}.txt").read_text().splitlines())
    first = plan[0]
    assert frame_count(root / "UCF-101" / first.relpath, "pyav") == first.num_frames


def test_the_layout_alone_has_split_files_and_empty_placeholders(tmp_path, monkeypatch):
    _no_rendering(monkeypatch)
    spec = SyntheticSpec.official(scale=0.01)
    root = write_layout(spec, tmp_path / "ucf101")
    files = sorted((root / "UCF-101").rglob("*.avi"))
    assert len(files) == 133 and all(f.stat().st_size == 0 for f in files)
    split = parse_ucf101(root / "UCF-101", root / "ucfTrainTestlist", 1)
    assert len(split.all_records()) == 133 and split.num_classes == 101
    assert not (root / ".complete").exists()  # placeholders are not clips


def _script():
    return load_script("make_synthetic_videos.py")


def test_the_script_plans_full_size_and_refuses_a_scale_with_a_grid(tmp_path, capsys):
    script = _script()
    script.main(["--scale", "1", "--out", str(tmp_path / "x"), "--dry-run"])
    out = capsys.readouterr().out
    assert "13320 clips, 101 classes, 25 groups, 4-7 clips per group" in out
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        script.main(["--scale", "0.1", "--classes", "3", "--out", str(tmp_path / "y")])
    assert "drop --classes" in capsys.readouterr().err
