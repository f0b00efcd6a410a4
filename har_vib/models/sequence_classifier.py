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
    equals the final state of that sequence run alone: no packing is needed. A clip of length 0 has seen no
    step: its state is the zero initial state (what ONNX's ``LSTM``/``GRU`` return for ``sequence_lens`` 0),
    not the state after step 0.
    """
    if lengths is None:
        return outputs[:, -1]
    lengths = lengths.to(outputs.device).long()
    idx = (lengths - 1).clamp(min=0)
    idx = idx.view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
    picked = outputs.gather(1, idx).squeeze(1)
    started = (lengths > 0).view(-1, 1)
    if torch.jit.is_tracing():  # the ONNX exporter mis-sizes a factorised layer's graph beside where(): multiply
        return picked * started.to(picked.dtype)
    return torch.where(started, picked, torch.zeros_like(picked))  # NaN-safe: a length-0 clip never reads step 0


def _dtype_name(t: torch.Tensor) -> str:
    """``t``'s dtype as a word (TorchScript formats a dtype as its enum number)."""
    names = {
        torch.int32: "int32",
        torch.int16: "int16",
        torch.int8: "int8",
        torch.uint8: "uint8",
        torch.bool: "bool",
        torch.float16: "float16",
        torch.bfloat16: "bfloat16",
        torch.float32: "float32",
        torch.float64: "float64",
    }
    for dtype, name in names.items():
        if t.dtype == dtype:
            return name
    return "another dtype"


def check_inputs(
    x: torch.Tensor, lengths: Optional[torch.Tensor], check_values: bool = True, features: Optional[int] = None
) -> None:
    """Refuse inputs outside the exported models' contract, the same way in eager PyTorch and TorchScript (the
    ONNX files refuse them in onnxruntime): ``x`` (B, T, F) with B >= 1, T >= 0 and F = ``features`` (the input
    width the model was trained on, before any input feature was pruned); ``lengths`` None or (B,) int64 with
    every value in ``[0, T]`` (0: an empty clip, classified from the zero initial state).

    ``check_values=False`` skips the range check, which reads ``lengths`` back to the host (a training step on
    an accelerator skips it; the datamodules' lengths are valid by construction). ``features=None`` takes any F.

    Raises:
        ValueError: ``x`` is not 3-D, has another number of features than ``features`` or no clip (B = 0: the
            ONNX files' recurrent operators crash onnxruntime on an empty batch, so no format takes one),
            ``lengths`` is not (B,), or a length is negative or longer than T.
        TypeError: ``lengths`` is not int64 (int32 lengths included: ONNX's ``lengths`` input is int64).
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, time, features), got {x.dim()} dimensions")
    if features is not None and x.shape[2] != features:
        raise ValueError(
            f"x must be (batch, time, {features}): the model was trained on {features} input features, got {x.shape[2]}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one clip (batch >= 1), got an empty batch of shape {list(x.shape)}")
    if lengths is None:
        return
    if lengths.dtype != torch.int64:
        raise TypeError(
            f"lengths must be int64 (torch.long), the dtype of the ONNX export's lengths input; got "
            f"{_dtype_name(lengths)}: pass lengths.long()"
        )
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0]:
        raise ValueError(f"lengths must be (batch,) = ({x.shape[0]},), got {lengths.dim()} dimensions")
    if check_values and lengths.numel() > 0:
        steps = x.shape[1]
        if bool(((lengths < 0) | (lengths > steps)).any()):
            raise ValueError(
                f"lengths must lie in [0, T] = [0, {steps}]; got values from {int(lengths.min())} "
                f"to {int(lengths.max())}"
            )


class SequenceClassifier(nn.Module):
    """A recurrent sequence classifier, batch-first.

    Args:
        rnn: ``nn.LSTM`` / ``nn.GRU`` (batch_first) or a VIB layer from :mod:`har_vib.vib`.
        head: classifier applied to the last valid hidden state; ``head[0]`` is a ``Linear``.
        input_ib: optional Information Bottleneck on the input features (Eq. 12-14 of the paper).
        input_index: optional indices of input features to keep (the compact model's feature selection).
        input_features: the width F of the ``x`` the model takes: the number of input features it was trained
            on, before any was pruned. Defaults to the recurrent layer's ``input_size``; required with
            ``input_index``. Every call checks it (:func:`check_inputs`); TorchScript keeps it as an attribute.
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
        input_features: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.rnn = rnn
        self.head = head
        self.input_ib = input_ib
        if input_index is not None:
            if input_features is None:
                raise ValueError(
                    "input_features (the number of input features the model was trained on) is required with "
                    "input_index"
                )
            if len(input_index) and not 0 <= int(input_index.min()) <= int(input_index.max()) < input_features:
                raise ValueError(f"input_index must lie in [0, input_features) = [0, {input_features})")
            self.register_buffer("input_index", input_index.long().clone())
        else:
            self.input_index = None
        self.input_features = int(rnn.input_size if input_features is None else input_features)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits (B, C) for ``x`` (B, T, F) float with B >= 1 and F = ``input_features``; ``lengths`` (B,) int64
        marks right-padded clips.

        Every ``lengths[b]`` lies in ``[0, T]``; a clip of length 0 (and every clip when T = 0) is classified
        from the zero initial state, as the ONNX export does. ``lengths=None`` means every clip is T long.

        Raises:
            TypeError: ``lengths`` is not int64.
            ValueError: ``x`` is not (B, T, ``input_features``) with B >= 1, or ``lengths`` is not (B,) with
                values in ``[0, T]`` (the range is checked in eval mode and whenever ``lengths`` is on the CPU).
        """
        check_values = not self.training or lengths is None or lengths.device.type == "cpu"
        check_inputs(x, lengths, check_values=check_values, features=self.input_features)
        if self.input_index is not None:
            x = x.index_select(-1, self.input_index)
        if self.frontend is not None:
            x = self.frontend(x, lengths)
            lengths = None
        if self.input_ib is not None:
            x = self.input_ib(x)
        if x.shape[1] == 0:  # empty clips (recurrent layers refuse T = 0): the zero initial state, shaped by one step
            outputs = self.rnn(x.new_zeros((x.shape[0], 1, x.shape[2])))[0]
            return self.head(self.dropout(torch.zeros_like(outputs[:, 0])))
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
