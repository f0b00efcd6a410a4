"""SequenceClassifier: [input feature selection] -> [input VIB mask] -> recurrent core -> dropout -> head."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from har_vib.vib.bottleneck import InformationBottleneck


def make_head(in_features: int, num_classes: int, head_hidden: int = 0) -> nn.Sequential:
    """Classifier on the last hidden state: ``Linear`` or ``Linear -> BatchNorm1d -> ReLU -> Linear``.

    The first module is always the ``Linear`` that reads the recurrent state, so pruning can slice its
    columns.
    """
    if head_hidden <= 0:
        return nn.Sequential(nn.Linear(in_features, num_classes))
    return nn.Sequential(
        nn.Linear(in_features, head_hidden),
        nn.BatchNorm1d(head_hidden, momentum=0.01),
        nn.ReLU(),
        nn.Linear(head_hidden, num_classes),
    )


def last_valid_step(outputs: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """Pick ``outputs[b, lengths[b] - 1]`` from (B, T, H); the last step when ``lengths`` is None.

    A unidirectional recurrent layer is causal, so the state at step ``len - 1`` of a right-padded sequence
    equals the final state of that sequence run alone: no packing is needed.
    """
    if lengths is None:
        return outputs[:, -1]
    idx = (lengths.to(outputs.device).long() - 1).clamp(min=0)
    idx = idx.view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
    return outputs.gather(1, idx).squeeze(1)


class SequenceClassifier(nn.Module):
    """A recurrent sequence classifier, batch-first.

    Args:
        rnn: ``nn.LSTM`` / ``nn.GRU`` (batch_first) or a VIB layer from :mod:`har_vib.vib`.
        head: classifier applied to the last valid hidden state; ``head[0]`` is a ``Linear``.
        input_ib: optional Information Bottleneck on the input features (Eq. 12-14 of the paper).
        input_index: optional indices of input features to keep (the compact model's feature selection).
        dropout: dropout on the last hidden state.
        frontend: optional module ``(x, lengths) -> x'`` applied after feature selection and before the input
            bottleneck, e.g. :class:`~har_vib.models.temporal_segments.TemporalSegmentPool` (its output has no
            padding, so ``lengths`` is dropped after it).
    """

    __jit_unused_properties__ = ["is_vib"]  # keep TorchScript export of compact models to forward()

    def __init__(
        self,
        rnn: nn.Module,
        head: nn.Sequential,
        input_ib: Optional[InformationBottleneck] = None,
        input_index: Optional[torch.Tensor] = None,
        dropout: float = 0.0,
        frontend: Optional[nn.Module] = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.rnn = rnn
        self.head = head
        self.input_ib = input_ib
        if input_index is not None:
            self.register_buffer("input_index", input_index.long().clone())
        else:
            self.input_index = None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits for ``x`` of shape (B, T, L); ``lengths`` (B,) marks right-padded sequences."""
        if self.input_index is not None:
            x = x.index_select(-1, self.input_index)
        if self.frontend is not None:
            x = self.frontend(x, lengths)
            lengths = None
        if self.input_ib is not None:
            x = self.input_ib(x)
        outputs = self.rnn(x)[0]
        return self.head(self.dropout(last_valid_step(outputs, lengths)))

    def bottlenecks(self) -> dict[str, InformationBottleneck]:
        """The model's Information Bottleneck layers by role (``input``, ``gates``)."""
        found: dict[str, InformationBottleneck] = {}
        if self.input_ib is not None:
            found["input"] = self.input_ib
        gate_ib = getattr(self.rnn, "gate_ib", None)
        if isinstance(gate_ib, InformationBottleneck):
            found["gates"] = gate_ib
        return found

    def kl(self) -> torch.Tensor:
        """Sum of the KL terms of every bottleneck (0 for a model without any)."""
        terms = [ib.kl() for ib in self.bottlenecks().values()]
        if not terms:
            return self.head[0].weight.new_zeros(())
        return torch.stack(terms).sum()

    @property
    def is_vib(self) -> bool:
        """Whether the model has any Information Bottleneck to prune by."""
        return bool(self.bottlenecks())
