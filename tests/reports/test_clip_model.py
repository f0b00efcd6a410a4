"""Whole-model cost per clip (encoder on every frame of every stream + recurrent model) and its summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from har_vib.reports.clip_model import clip_model_report, recurrent_macs


def test_recurrent_macs_counts_gates_steps_and_head():
    # LSTM 10 -> 4 over 3 steps: 3 steps x 4 gates x 4 units x (10 inputs + 4 recurrent); head 4 x 5
    assert recurrent_macs("lstm", 10, 4, 3, 5) == 3 * 4 * 4 * 14 + 20
    assert recurrent_macs("gru", 10, 4, 3, 5) == 3 * 3 * 4 * 14 + 20
    with pytest.raises(ValueError):
        recurrent_macs("rnn", 1, 1, 1, 1)


def _report(enc_after: int) -> tuple[dict, dict]:
    encoder = {
        "method": "vib",
        "before": {"params": 1000, "macs_per_frame": 50},
        "after": {"params": enc_after, "macs_per_frame": 20},
    }
    compression = {
        "cell": "lstm",
        "total_params_before": 500,
        "total_params_after": 50,
        "input_dim_before": 8,
        "hidden_before": 4,
        "input_dim_after": 2,
        "hidden_after": 1,
    }
    return encoder, compression


def test_clip_report_counts_the_shared_encoder_once_and_its_macs_per_frame_and_stream():
    encoder, compression = _report(200)
    clip = clip_model_report(encoder, compression, frames=3, streams=2, classes=5)
    assert clip["before"]["total_params"] == 1500 and clip["after"]["total_params"] == 250
    assert clip["before"]["encoder_macs_per_clip"] == 50 * 3 * 2
    assert clip["after"]["recurrent_macs_per_clip"] == recurrent_macs("lstm", 2, 1, 3, 5)
    assert clip["param_ratio"] == pytest.approx(6.0)
    before = 300 + recurrent_macs("lstm", 8, 4, 3, 5)
    after = 120 + recurrent_macs("lstm", 2, 1, 3, 5)
    assert clip["mac_ratio"] == pytest.approx(before / after)


def test_encoder_report_summarises_runs_per_method(tmp_path: Path, capsys):
    from scripts.encoder_report import main

    for method, seed, enc_after, acc in [("vib", 0, 200, 0.5), ("vib", 1, 400, 0.7), ("none", 0, 1000, 0.4)]:
        run = tmp_path / method / f"seed{seed}"
        run.mkdir(parents=True)
        encoder, compression = _report(enc_after)
        clip = clip_model_report(encoder, compression, 3, 2, 5)
        clip["encoder"] = encoder
        (run / "clip_model.json").write_text(json.dumps(clip))
        (run / "metrics.json").write_text(json.dumps({"test_acc_pruned": acc}))
        if method == "vib":  # bench_clip.py's figures, one run's latency 10 -> 4 ms, the other's 20 -> 6 ms
            rows = [
                {"stage": "before", "median_ms": 10.0 * (1 + seed)},
                {"stage": "after", "median_ms": 4.0 + 2 * seed},
            ]
            (run / "clip_bench.json").write_text(json.dumps({"rows": rows}))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # encoder params as pruned, MACs per frame as pruned (millions), ..., latency per clip, test accuracy
    assert "| vib | 2 | 300 | 0.0 | 1,000 -> 300 |" in out and "| 15.0 -> 5.0 | 60.0 +- 10.0 |" in out
    assert "| none | 1 |" in out and "| - | 40.0 +- 0.0 |" in out and (tmp_path / "summary.md").is_file()
    assert (tmp_path / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the MAC budget a vib run reached, for hrel / l1 runs at the same cost
    assert main(["--macs-of", str(tmp_path / "vib" / "seed0")]) == 0
    assert capsys.readouterr().out.strip() == "20"
    assert main(["--macs-of", str(tmp_path)]) == 2
    # a root that is not a folder: one line, no traceback
    assert main([str(tmp_path / "nowhere")]) == 2 and main([str(tmp_path / "summary.md")]) == 2
    assert "is not a folder of <method>/<run> run folders" in capsys.readouterr().err
