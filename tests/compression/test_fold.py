"""``model.net.ib.eval_mode=mu`` (VIBNet's ``mask * mu`` eval multiplier): the compact model reproduces the masked
model exactly where ``mu`` folds into standard weights, and is refused otherwise, before training and at export; an
inexact compact model or file is an error, never a figure in a report.

Found by replaying a public bug report: with ``eval_mode=mu`` the exported model differed from the trained one
(``export_max_abs_diff`` 0.256, accuracy 25% vs 30%) and nothing said so."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from har_vib.compression import compress
from har_vib.compression.exactness import InexactExportError, export_tolerance, logit_parity
from har_vib.errors import ConfigError
from har_vib.models import create_model, list_models
from har_vib.models.sequence_classifier import SequenceClassifier


def _mu_model(name: str, seed: int = 0) -> SequenceClassifier:
    """A tiny ``name`` model evaluated with ``mask * mu`` (:func:`_spread_mu`)."""
    torch.manual_seed(seed)
    return _spread_mu(create_model(name, input_size=6, num_classes=3, hidden_size=5, ib={"eval_mode": "mu"}))


def _spread_mu(model: SequenceClassifier) -> SequenceClassifier:
    """``model`` in eval mode, every bottleneck's ``mu`` spread over [0.3, 1.7] (what training gives: far from the
    1 a hard mask multiplies by) and its unit 0 pruned."""
    with torch.no_grad():
        for ib_layer in model.bottlenecks().values():
            ib_layer.mu.uniform_(0.3, 1.7)
            ib_layer.logvar[0] = 10.0  # one unit pruned per bottleneck
    return model.eval()


def _set_gate_mu(model: SequenceClassifier, gate: str, value: float) -> None:
    rnn = model.rnn
    with torch.no_grad():
        rnn.gate_ib.mu[rnn.gate_slice(gate)] = value


def _assert_exact(model: SequenceClassifier, compact: SequenceClassifier) -> None:
    x = torch.randn(4, 11, 6)
    lengths = torch.tensor([11, 6, 1, 0])
    with torch.no_grad():
        expected, got = model(x, lengths), compact.eval()(x, lengths)
    assert float((expected - got).abs().max()) <= 1e-4 + 1e-4 * float(expected.abs().max())


@pytest.mark.parametrize("name", ["vib_lstm", "vib_gru", "ts_vib_lstm"])
def test_mu_on_gates_no_standard_layer_can_scale_is_refused(name: str):
    """Before: compress() returned a compact model whose logits differed by ~0.1-0.3, reported as a number only."""
    model = _mu_model(name)
    with pytest.raises(InexactExportError, match=r"eval_mode='mu'.*model.net.ib.eval_mode=hard"):
        compress(model)


def test_input_feature_mu_folds_into_the_input_weights_exactly():
    """Before: the compact LSTM read the kept features unscaled (diff ~0.1); now mu is in W_ih's columns."""
    model = _mu_model("feature_vib_lstm")
    result = compress(model)
    assert result.report["kept_inputs"] == [1, 2, 3, 4, 5]
    _assert_exact(model, result.model)
    assert result.report["folded_multipliers"] == ["input"]


def test_lstm_output_gate_and_input_mu_fold_exactly():
    """o's mu moves into the columns of W_hh and of the head; i, f, g at exactly 1 leave nothing unfoldable."""
    model = _mu_model("vib_lstm")
    for gate in ("i", "f", "g"):
        _set_gate_mu(model, gate, 1.0)
    result = compress(model)
    _assert_exact(model, result.model)
    assert result.report["folded_multipliers"] == ["input", "o"]


def test_gru_reset_and_candidate_mu_fold_exactly():
    """r's mu scales the rows of W_hn and b_hn; n's the columns of W_hh and of the head (h carries h / mu_n)."""
    model = _mu_model("vib_gru")
    _set_gate_mu(model, "z", 1.0)
    result = compress(model)
    _assert_exact(model, result.model)
    assert result.report["folded_multipliers"] == ["input", "n", "r"]


def test_hard_masks_fold_nothing_and_stay_exact():
    model = create_model("vib_gru", input_size=6, num_classes=3, hidden_size=5).eval()
    result = compress(model)
    _assert_exact(model, result.model)
    assert result.report["folded_multipliers"] == []


def test_config_table_of_unfoldable_models_matches_the_registry():
    """config_checks refuses eval_mode=mu by model name, before importing torch: its table must name exactly the
    registered recurrent models whose compress() refuses mu."""
    from har_vib.config_checks import GATE_BOTTLENECK_MODELS

    refused = set()
    for name in list_models():
        try:
            model = create_model(name, input_size=6, num_classes=3, hidden_size=5, ib={"eval_mode": "mu"})
        except (TypeError, ValueError):  # no ib or hidden_size setting: not a VIB recurrent model
            continue
        if not isinstance(model, SequenceClassifier) or not model.is_vib:
            continue
        try:
            compress(_spread_mu(model).eval())
        except InexactExportError:
            refused.add(name)
    assert refused == set(GATE_BOTTLENECK_MODELS)


@pytest.mark.parametrize("model", ["vib_lstm", "vib_gru", "ts_vib_lstm", "vib_iss_lstm"])
def test_mu_on_gate_bottlenecks_is_refused_before_training(tiny_cfg, tmp_path: Path, model: str):
    """Before: the run trained, exported an inexact model and reported it as exact."""
    from har_vib.config_checks import check_run_config

    with pytest.raises(ConfigError, match=r"model.net.ib.eval_mode=mu: .* cannot reproduce.*eval_mode=hard"):
        check_run_config(tiny_cfg(f"model={model}", "model.net.ib.eval_mode=mu"))
    with pytest.raises(ConfigError, match=r"model.net.ib.eval_mode='soft': must be 'hard' or 'mu'"):
        check_run_config(tiny_cfg(f"model={model}", "model.net.ib.eval_mode=soft"))
    check_run_config(tiny_cfg("model=feature_vib_lstm", "model.net.ib.eval_mode=mu"))  # folds exactly
    check_run_config(tiny_cfg(f"model={model}", "model.net.ib.eval_mode=hard"))


def _batches(n: int = 3) -> list:
    return [(torch.randn(4, 7, 6), torch.tensor([7, 5, 2, 0]), torch.randint(0, 3, (4,))) for _ in range(n)]


def test_an_inexact_compact_model_stops_the_export(tmp_path: Path):
    """The callback's check of the compact model against the model it was pruned from raises instead of recording
    export_max_abs_diff and exporting (before: a number in compression.json)."""
    from har_vib.callbacks.prune_export import PruneExportCallback, _FitData

    model = create_model("vib_lstm", input_size=6, num_classes=3, hidden_size=5).eval()
    compact = compress(model).model
    with torch.no_grad():
        compact.head[0].bias.add_(0.05)  # a small, real difference: far above float round-off
    batches = _batches()
    fit = _FitData(batches, batches, batches, torch.device("cpu"), {})
    callback = PruneExportCallback(str(tmp_path))
    with pytest.raises(InexactExportError, match=r"compact model .* differ by up to 0.05 .*nothing was exported"):
        callback._finish(model, compact, {}, fit)
    assert not any(tmp_path.iterdir())
    report, _ = callback._finish(model, compress(model).model, {}, fit)  # the exact one goes through
    assert report["export_max_abs_diff"] <= report["export_tolerance"] < 1e-3


def test_parity_counts_argmax_agreement_and_scales_the_tolerance():
    a = torch.nn.Linear(6, 3)
    b = torch.nn.Linear(6, 3)
    with torch.no_grad():
        b.weight.copy_(a.weight)
        b.bias.copy_(a.bias)
    batches = [(torch.randn(5, 6), torch.zeros(5))]
    same = logit_parity(a, b, batches, torch.device("cpu"))
    assert same.exact and same.agreement == 1.0 and same.max_abs_diff == 0.0
    with torch.no_grad():
        b.bias[0] += 10.0
    off = logit_parity(a, b, batches, torch.device("cpu"))
    assert not off.exact and off.max_abs_diff == pytest.approx(10.0) and off.agreement < 1.0
    assert export_tolerance(100.0) == pytest.approx(1e-4 + 1e-2)


def test_an_onnx_file_that_differs_from_the_model_is_removed_and_raises(tmp_path: Path, monkeypatch):
    """export_compact's own parity check (TorchScript and ONNX against eager, a length-0 clip among the inputs) is an
    error above float round-off, not the onnx_max_abs_diff figure alone (before: written, reported, kept)."""
    import copy

    from har_vib.compression import export as export_module
    from har_vib.compression.onnx_lean import export_lean_onnx

    def off_by_a_bit(model, path):
        wrong = copy.deepcopy(model)
        with torch.no_grad():
            wrong.head[0].bias.add_(0.01)
        return export_lean_onnx(wrong, path)

    model = create_model("naive_gru", input_size=6, num_classes=3, hidden_size=4).eval()
    example = (torch.randn(2, 5, 6), torch.tensor([5, 3]))
    monkeypatch.setattr(export_module, "export_lean_onnx", off_by_a_bit)
    with pytest.raises(InexactExportError, match=r"pruned.onnx does not reproduce .* up to 0.01 .*was removed"):
        export_module.export_compact(model, tmp_path, example)
    assert not (tmp_path / "pruned.onnx").exists()
    monkeypatch.undo()
    result = export_module.export_compact(model, tmp_path, example)
    assert result["onnx_max_abs_diff"] <= result["export_file_tolerance"] < 1e-3
