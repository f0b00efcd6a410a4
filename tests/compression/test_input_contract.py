"""Every form of the exported model (eager, ``pruned.pt``, ``pruned.onnx``, ``pruned_int8.onnx``) takes the same
inputs and gives the same answer at the edges of the contract: a clip of length 0 (and T = 0) is classified from the
zero initial state; int32, float, negative or too long lengths are refused by all of them.

Found by replaying a public bug report: a length-0 clip gave step 0's state in ``pruned.pt`` (the index was clamped)
and the zero state in ``pruned.onnx``, so different classes; int32 lengths ran in TorchScript and were refused by
onnxruntime.

And by a user's GunPoint run whose compact model gathers input feature 2 of 3: x with 4 features ran in every format
(the gather read columns 0-3 happily) and x with 1 feature failed deep inside (``index out of range in self``,
``Gather ... idx=2``); x must have the width the model was trained on, and every format says so. An empty batch
(B = 0) crashes onnxruntime 1.32's LSTM/GRU kernels (exit 139) while ``pruned.pt`` returned (0, C): eager and
TorchScript refuse it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from har_vib.compression import compress
from har_vib.compression.export import export_compact
from har_vib.compression.quantize import quantize_onnx_int8
from har_vib.deploy.models import load_compact
from har_vib.models import SequenceClassifier, create_model

STEPS, FEATURES = 7, 6


def _runtimes(model: SequenceClassifier, out: Path) -> dict[str, Callable[[torch.Tensor, torch.Tensor], np.ndarray]]:
    """Each runtime as ``(x, lengths) -> logits``; the tensors are handed over as they are (no dtype conversion)."""
    model = model.eval()
    export_compact(model, out, (torch.randn(3, STEPS, FEATURES), torch.full((3,), STEPS)))
    files = {"onnx": out / "pruned.onnx"}
    if isinstance(model.rnn, torch.nn.LSTM):  # onnxruntime has dynamic int8 LSTM only (test_int8_export.py)
        quantize_onnx_int8(out / "pruned.onnx", out / "pruned_int8.onnx")
        files["onnx_int8"] = out / "pruned_int8.onnx"
    scripted = torch.jit.load(str(out / "pruned.pt"))

    def torch_call(m: torch.nn.Module) -> Callable:
        def call(x: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
            with torch.no_grad():
                return m(x, lengths).numpy()

        return call

    def onnx_call(path: Path) -> Callable:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x, lengths: session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]

    runtimes = {"eager": torch_call(model), "torchscript": torch_call(scripted)}
    return runtimes | {name: onnx_call(path) for name, path in files.items()}


def _onnx_files(out: Path) -> list[Path]:
    return sorted(out.glob("pruned*.onnx"))


def _models() -> dict[str, SequenceClassifier]:
    torch.manual_seed(0)
    pruned = create_model("vib_gru", input_size=FEATURES, num_classes=4, hidden_size=6).eval()
    with torch.no_grad():
        pruned.input_ib.logvar[2] = 10.0  # the compact model reads 5 of the 6 features (a Gather in the graph)
    one_kept = create_model("vib_lstm", input_size=FEATURES, num_classes=4, hidden_size=32).eval()
    with torch.no_grad():  # the user's case: the compact LSTM reads feature 2 only (and has an int8 file)
        one_kept.input_ib.logvar[[0, 1, 3, 4, 5]] = 10.0
    return {
        "lstm": create_model("naive_lstm", input_size=FEATURES, num_classes=4, hidden_size=32).eval(),
        "gru": create_model("naive_gru", input_size=FEATURES, num_classes=4, hidden_size=8, head_hidden=5).eval(),
        "pruned_gru": compress(pruned).model.eval(),
        "pruned_lstm": compress(one_kept).model.eval(),
    }


@pytest.fixture(scope="module", params=["lstm", "gru", "pruned_gru", "pruned_lstm"])
def case(request, tmp_path_factory) -> tuple[SequenceClassifier, dict]:
    model = _models()[request.param]
    return model, _runtimes(model, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def pruned_lstm_export(tmp_path_factory) -> tuple[SequenceClassifier, Path]:
    model = _models()["pruned_lstm"]
    out = tmp_path_factory.mktemp("pruned_lstm_files")
    _runtimes(model, out)
    return model, out


def test_a_length_zero_clip_is_the_zero_state_in_every_runtime(case):
    model, runtimes = case
    x = torch.randn(3, STEPS, FEATURES)
    lengths = torch.tensor([STEPS, 0, 3])
    with torch.no_grad():
        zero_state = model.head(torch.zeros(1, model.rnn.hidden_size)).numpy()[0]
    got = {name: run(x, lengths) for name, run in runtimes.items()}
    for name, logits in got.items():
        tol = 2e-2 if name == "onnx_int8" else 1e-5
        np.testing.assert_allclose(logits[1], zero_state, atol=tol, err_msg=name)  # before: step 0 in torch
        np.testing.assert_allclose(logits, got["eager"], atol=tol, err_msg=name)
    assert len({int(np.argmax(logits[1])) for logits in got.values()}) == 1


def test_clips_of_no_steps_at_all(case):
    """T = 0: the recurrent layers refuse an empty sequence (PyTorch) but ONNX's take it; all give the zero state."""
    model, runtimes = case
    with torch.no_grad():
        zero_state = model.head(torch.zeros(1, model.rnn.hidden_size)).numpy()
    for name, run in runtimes.items():
        logits = run(torch.zeros(2, 0, FEATURES), torch.zeros(2, dtype=torch.long))
        np.testing.assert_allclose(logits, np.repeat(zero_state, 2, 0), atol=2e-2, err_msg=name)


@pytest.mark.parametrize(
    ("lengths", "torch_error"),
    [
        (torch.tensor([STEPS, 4], dtype=torch.int32), r"lengths must be int64 \(torch.long\).*got int32"),
        (torch.tensor([STEPS, 4.0]), r"lengths must be int64 \(torch.long\).*got float32"),
        (torch.tensor([STEPS, -1]), r"lengths must lie in \[0, T\] = \[0, 7\]; got values from -1 to 7"),
        (torch.tensor([STEPS + 1, 4]), r"lengths must lie in \[0, T\] = \[0, 7\]; got values from 4 to 8"),
    ],
)
def test_lengths_outside_the_contract_are_refused_by_every_runtime(case, lengths: torch.Tensor, torch_error: str):
    """Before: int32 and float lengths ran in eager and TorchScript (and -1 silently meant step 0) while
    onnxruntime refused them."""
    _, runtimes = case
    x = torch.randn(2, STEPS, FEATURES)
    logging.getLogger("onnxruntime").setLevel(logging.CRITICAL)
    for name, run in runtimes.items():
        with pytest.raises(Exception) as err:
            run(x, lengths)
        if name in ("eager", "torchscript"):
            assert err.match(torch_error), name
        else:
            assert "INVALID_ARGUMENT" in str(err.value), name


def test_none_lengths_mean_full_clips_in_eager_and_torchscript(case):
    _, runtimes = case
    x = torch.randn(2, STEPS, FEATURES)
    full = torch.full((2,), STEPS)
    for name in ("eager", "torchscript"):
        np.testing.assert_allclose(runtimes[name](x, None), runtimes[name](x, full), atol=1e-6)


def test_the_range_check_is_skipped_only_in_training_on_an_accelerator():
    """A training step with lengths on the CPU (or any eval call) is checked; the datamodules' lengths are valid."""
    model = create_model("naive_lstm", input_size=FEATURES, num_classes=4, hidden_size=4).train()
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\]"):
        model(torch.randn(2, STEPS, FEATURES), torch.tensor([STEPS, STEPS + 2]))
    with pytest.raises(ValueError, match=r"lengths must be \(batch,\) = \(2,\)"):
        model.eval()(torch.randn(2, STEPS, FEATURES), torch.tensor([STEPS]))


@pytest.mark.parametrize("features", [FEATURES + 1, FEATURES - 1, 1])
def test_x_of_another_width_is_refused_by_every_runtime(case, features: int):
    """Before: a compact model that gathers its kept columns ran on a wider x in every format (logits from the wrong
    columns), and a narrower one failed inside the gather (``index out of range in self`` / ``Gather ... idx=2``)."""
    _, runtimes = case
    x = torch.randn(2, STEPS, features)
    lengths = torch.tensor([STEPS, 4])
    logging.getLogger("onnxruntime").setLevel(logging.CRITICAL)
    for name, run in runtimes.items():
        with pytest.raises(Exception) as err:
            run(x, lengths)
        if name in ("eager", "torchscript"):
            rule = rf"x must be \(batch, time, {FEATURES}\): the model was trained on {FEATURES} input features, got "
            assert err.match(rule + str(features)), name
        else:  # onnxruntime checks the declared shape before running any node
            message = str(err.value)
            assert "INVALID_ARGUMENT" in message and "Got invalid dimensions for input: x" in message, name
            assert f"index: 2 Got: {features} Expected: {FEATURES}" in message, name


def test_the_onnx_files_declare_the_trained_width_with_dynamic_batch_and_time(case, tmp_path):
    model, _ = case
    export_compact(model, tmp_path, (torch.randn(3, STEPS, FEATURES), torch.full((3,), STEPS)))
    if isinstance(model.rnn, torch.nn.LSTM):
        quantize_onnx_int8(tmp_path / "pruned.onnx", tmp_path / "pruned_int8.onnx")
    for path in _onnx_files(tmp_path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].shape == ["batch", "time", FEATURES], path.name
        assert model.input_features == FEATURES
        logits = session.run(None, {"x": np.zeros((5, 2, FEATURES), np.float32), "lengths": np.full(5, 2)})[0]
        assert logits.shape == (5, 4)


def test_an_empty_batch_is_refused_by_eager_and_torchscript(case):
    """onnxruntime 1.32 segfaults on B = 0 in its LSTM/GRU kernels (not run here); before, ``pruned.pt`` returned
    (0, C) there, so the formats differed on it."""
    _, runtimes = case
    for name in ("eager", "torchscript"):
        for lengths in (torch.zeros(0, dtype=torch.long), None):
            with pytest.raises(Exception, match=r"x must hold at least one clip \(batch >= 1\), got an empty batch"):
                runtimes[name](torch.zeros(0, STEPS, FEATURES), lengths)  # TorchScript: torch.jit.Error, ValueError


def test_the_trained_width_travels_with_the_compact_model(pruned_lstm_export):
    """The compact model that reads 1 of 6 features keeps the 6 in TorchScript, the spec and a model rebuilt from it;
    a model that selects features cannot be built without it."""
    model, out = pruned_lstm_export
    assert model.input_index.tolist() == [2] and model.rnn.input_size == 1
    assert torch.jit.load(str(out / "pruned.pt")).input_features == FEATURES
    spec = json.loads((out / "pruned_spec.json").read_text())
    assert spec["input_features"] == FEATURES
    rebuilt = load_compact(out)
    assert rebuilt.input_features == FEATURES
    with pytest.raises(ValueError, match=rf"the model was trained on {FEATURES} input features, got 3"):
        rebuilt(torch.randn(1, STEPS, 3))
    del spec["input_features"]  # a spec written before it was recorded: compression.json has the width
    (out / "pruned_spec.json").write_text(json.dumps(spec))
    (out / "compression.json").write_text(json.dumps({"input_dim_before": FEATURES}))
    assert load_compact(out).input_features == FEATURES
    with pytest.raises(ValueError, match=r"input_features .* is required with input_index"):
        SequenceClassifier(model.rnn, model.head, input_index=model.input_index)
    with pytest.raises(ValueError, match=r"input_index must lie in \[0, input_features\) = \[0, 2\)"):
        SequenceClassifier(model.rnn, model.head, input_index=model.input_index, input_features=2)


@pytest.mark.parametrize("name", ["ts_lstm", "tt_lstm"])
def test_traced_exports_refuse_another_width_too(tmp_path: Path, name: str):
    """Models the tracing exporter writes (temporal segments, factorised layers) keep the example's width fixed."""
    torch.manual_seed(0)
    model = create_model(name, input_size=FEATURES, num_classes=3, hidden_size=4).eval()
    x = torch.randn(2, STEPS, FEATURES)
    export_compact(model, tmp_path, (x, torch.full((2,), STEPS)))
    session = ort.InferenceSession(str(tmp_path / "pruned.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[2] == FEATURES
    wide = torch.randn(2, STEPS, FEATURES + 1)
    feeds = {i.name: {"x": wide.numpy(), "lengths": np.full(2, STEPS)}[i.name] for i in session.get_inputs()}
    logging.getLogger("onnxruntime").setLevel(logging.CRITICAL)
    with pytest.raises(Exception, match=r"Got invalid dimensions for input: x"):
        session.run(None, feeds)
    for runtime in (model, torch.jit.load(str(tmp_path / "pruned.pt"))):
        with pytest.raises(Exception, match=rf"the model was trained on {FEATURES} input features, got {FEATURES + 1}"):
            runtime(wide, None)
