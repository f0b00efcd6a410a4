"""Deployment stages after pruning: distillation from a teacher, dynamic int8 quantization."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from har_vib.compression.distill import distillation_loss, distillation_loss_fn
from har_vib.compression.finetune import finetune
from har_vib.compression.quantize import quantize_int8
from har_vib.models import create_model


def test_distillation_loss_mixes_hard_and_soft_terms():
    torch.manual_seed(0)
    s, t, y = torch.randn(5, 4), torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    assert torch.allclose(distillation_loss(s, t, y, 3.0, 0.0), F.cross_entropy(s, y))
    assert float(distillation_loss(t, t, y, 3.0, 1.0)) == pytest.approx(0.0, abs=1e-6)  # student = teacher
    kl = F.kl_div(F.log_softmax(s / 2, -1), F.softmax(t / 2, -1), reduction="batchmean")
    assert torch.allclose(distillation_loss(s, t, y, 2.0, 1.0), 4.0 * kl, atol=1e-6)
    with pytest.raises(ValueError):
        distillation_loss(s, t, y, 0.0, 0.5)


def _kl_to_teacher(student, teacher, batches) -> float:
    with torch.no_grad():
        return sum(
            float(F.kl_div(F.log_softmax(student(x, n), -1), F.softmax(teacher(x, n), -1), reduction="batchmean"))
            for x, n, _ in batches
        ) / len(batches)


def test_distillation_lowers_the_students_divergence_from_the_teacher():
    torch.manual_seed(0)
    teacher = create_model("naive_lstm", input_size=5, num_classes=4, hidden_size=32).eval()
    batches = []
    for _ in range(6):
        x = torch.randn(16, 10, 5)
        batches.append((x, torch.full((16,), 10), torch.randint(0, 4, (16,))))  # labels unrelated to the teacher
    student = create_model("naive_lstm", input_size=5, num_classes=4, hidden_size=4)
    hard_only = create_model("naive_lstm", input_size=5, num_classes=4, hidden_size=4)
    hard_only.load_state_dict(student.state_dict())
    before = _kl_to_teacher(student.eval(), teacher, batches)
    torch.manual_seed(1)
    finetune(student, batches, epochs=15, lr=1e-2, loss_fn=distillation_loss_fn(teacher, temperature=2.0, alpha=1.0))
    torch.manual_seed(1)
    finetune(hard_only, batches, epochs=15, lr=1e-2)
    distilled = _kl_to_teacher(student, teacher, batches)
    assert distilled < 0.5 * before
    assert distilled < _kl_to_teacher(hard_only, teacher, batches)
    assert not any(p.requires_grad for p in teacher.parameters())  # the teacher stayed frozen


def test_int8_quantization_keeps_outputs_close():
    torch.manual_seed(0)
    model = create_model("naive_lstm", input_size=6, num_classes=3, hidden_size=16, head_hidden=8).eval()
    q = quantize_int8(model)
    assert "Quantized" in type(q.rnn).__module__ + type(q.rnn).__name__ or "quantized" in type(q.rnn).__module__
    x, n = torch.randn(32, 12, 6), torch.full((32,), 12)
    with torch.no_grad():
        ref, got = model(x, n), q(x, n)
    assert float((ref - got).abs().max()) < 0.05 * float(ref.abs().max())
    assert float((ref.argmax(-1) == got.argmax(-1)).float().mean()) >= 0.9
