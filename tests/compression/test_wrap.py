"""vib_from_pretrained: anyone's nn.LSTM/GRU + head becomes a VIB model that starts where it was."""

import pytest
import torch
from torch import nn

from har_vib.compression import compress, vib_from_pretrained
from har_vib.vib import VIBGRU, VIBLSTM


@pytest.mark.parametrize(("cls", "vib_cls"), [(nn.LSTM, VIBLSTM), (nn.GRU, VIBGRU)])
@pytest.mark.parametrize("batch_first", [True, False])
def test_wrapped_model_reproduces_pretrained(cls, vib_cls, batch_first):
    rnn = cls(6, 10, batch_first=batch_first)
    head = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(4, 12, 6)
    with torch.no_grad():
        out = rnn(x if batch_first else x.transpose(0, 1))[0]
        last = out[:, -1] if batch_first else out[-1]
        expected = head(last)
    model = vib_from_pretrained(rnn, head).eval()
    assert isinstance(model.rnn, vib_cls)
    assert model.input_ib is not None and model.input_ib.dim == 6
    assert torch.allclose(model(x), expected, atol=1e-5)
    # untouched copies: fine-tuning the VIB model does not change the user's modules
    assert model.rnn.weight_ih_l0.data_ptr() != rnn.weight_ih_l0.data_ptr()


def test_wrapped_model_trains_and_compresses():
    rnn, head = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 2)
    model = vib_from_pretrained(rnn, head, input_vib=False, kl_mult=2.0)
    model.train()
    loss = nn.functional.cross_entropy(model(torch.randn(4, 7, 3)), torch.tensor([0, 1, 0, 1])) + model.kl()
    loss.backward()
    assert model.rnn.gate_ib.mu.grad is not None and model.rnn.weight_hh_l0.grad is not None
    compact = compress(model.eval()).model
    assert type(compact.rnn) is nn.LSTM and compact.rnn.hidden_size == 5


def test_rejects_unsupported_layers():
    with pytest.raises(ValueError, match="num_layers=2"):
        vib_from_pretrained(nn.LSTM(3, 4, num_layers=2), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="bidirectional"):
        vib_from_pretrained(nn.LSTM(3, 4, bidirectional=True), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="reads 5 features"):
        vib_from_pretrained(nn.GRU(3, 4), nn.Linear(5, 2))
    with pytest.raises(TypeError, match="LSTM"):
        vib_from_pretrained(nn.RNN(3, 4), nn.Linear(4, 2))
