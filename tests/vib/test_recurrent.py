"""VIB-LSTM / VIB-GRU: agreement with torch's layers, masks, variable-length batches."""

import pytest
import torch
from torch import nn

from har_vib.models import create_model
from har_vib.vib import VIBGRU, VIBLSTM

CASES = [(VIBLSTM, nn.LSTM), (VIBGRU, nn.GRU)]


@pytest.mark.parametrize(("vib_cls", "torch_cls"), CASES)
def test_all_kept_eval_matches_torch_layer(vib_cls, torch_cls):
    """With every unit kept and hard masks, a VIB layer computes exactly what nn.LSTM / nn.GRU does."""
    vib = vib_cls(5, 7).eval()
    ref = torch_cls(5, 7, batch_first=True)
    ref.load_state_dict({k: v for k, v in vib.state_dict().items() if not k.startswith("gate_ib")})
    x = torch.randn(3, 11, 5)
    out_vib, _ = vib(x)
    out_ref, _ = ref(x)
    assert torch.allclose(out_vib, out_ref, atol=1e-6)


@pytest.mark.parametrize(("vib_cls", "torch_cls"), CASES)
def test_training_applies_gate_noise(vib_cls, torch_cls):
    vib = vib_cls(4, 6).train()
    with torch.no_grad():
        vib.gate_ib.logvar.fill_(0.0)  # sigma = 1
    x = torch.randn(2, 5, 4)
    assert not torch.allclose(vib(x)[0], vib(x)[0])
    vib.eval()
    assert torch.equal(vib(x)[0], vib(x)[0])


def test_lstm_pruned_units_output_zero_and_forget_mask_does_not_prune():
    vib = VIBLSTM(4, 6).eval()
    hs = 6
    with torch.no_grad():
        vib.gate_ib.logvar[0 * hs + 0] = 10.0  # i of unit 0
        vib.gate_ib.logvar[2 * hs + 1] = 10.0  # g of unit 1
        vib.gate_ib.logvar[3 * hs + 2] = 10.0  # o of unit 2
        vib.gate_ib.logvar[1 * hs + 3] = 10.0  # f of unit 3 only: unit stays
    assert vib.kept_hidden_mask().tolist() == [False, False, False, True, True, True]
    out, _ = vib(torch.randn(2, 9, 4))
    assert torch.all(out[..., :3] == 0)
    assert torch.all(out[..., 3:].abs().sum((0, 1)) > 0)


def test_gru_only_n_mask_prunes():
    vib = VIBGRU(4, 5).eval()
    hs = 5
    with torch.no_grad():
        vib.gate_ib.logvar[2 * hs + 1] = 10.0  # n of unit 1
        vib.gate_ib.logvar[0 * hs + 2] = 10.0  # r of unit 2: stays
        vib.gate_ib.logvar[1 * hs + 3] = 10.0  # z of unit 3: stays
    assert vib.kept_hidden_mask().tolist() == [True, False, True, True, True]
    out, _ = vib(torch.randn(2, 9, 4))
    assert torch.all(out[..., 1] == 0)


@pytest.mark.parametrize("name", ["naive_lstm", "vib_lstm", "naive_gru", "vib_gru"])
def test_padded_batch_equals_each_sequence_alone(name):
    model = create_model(name, input_size=3, num_classes=4, hidden_size=6, head_hidden=5).eval()
    lengths = torch.tensor([9, 4, 1, 6])
    seqs = [torch.randn(int(n), 3) for n in lengths]
    padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=7.0)  # junk padding
    batched = model(padded, lengths)
    alone = torch.cat([model(s.unsqueeze(0)) for s in seqs])
    assert torch.allclose(batched, alone, atol=1e-6)


def test_rejects_non_batch_first_input():
    with pytest.raises(ValueError, match="batch-first"):
        VIBLSTM(4, 3)(torch.randn(5, 4))
