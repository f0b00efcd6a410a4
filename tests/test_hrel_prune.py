"""HRel filter pruning on LeNet-5: structured removal is exact for zeroed filters, the loop reaches its targets
and drops the least relevant filters."""

from __future__ import annotations

import pytest
import torch

from har_vib.datamodules import ImageDataModule
from har_vib.hrel.prune import apply_filter_masks_, hrel_prune_lenet5, relevance_of, train_images
from har_vib.models import create_model
from har_vib.vibnet.prune import architecture_counts, remove_filters


def test_removing_zeroed_filters_keeps_the_outputs():
    torch.manual_seed(0)
    net = create_model("lenet5", input_size=(1, 8, 8), num_classes=10, padding=2).eval()
    keep1, keep2 = torch.tensor([0, 3, 4, 11, 19]), torch.arange(0, 50, 3)
    masks = [torch.zeros(20, dtype=torch.bool), torch.zeros(50, dtype=torch.bool)]
    masks[0][keep1], masks[1][keep2] = True, True
    apply_filter_masks_([net.conv1, net.conv2], masks)
    small = remove_filters(net, keep1, keep2)
    x = torch.randn(6, 1, 8, 8)
    assert torch.allclose(net(x), small(x), atol=1e-5)
    convs = [m for m in small if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 5), (5, 17)]
    assert architecture_counts(small, (1, 8, 8))["weights"] < architecture_counts(net, (1, 8, 8))["weights"]


@pytest.mark.slow
def test_hrel_loop_reaches_the_targets_on_digits():
    torch.manual_seed(0)
    dm = ImageDataModule(batch_size=100, seed=0)
    dm.setup()
    batches = list(dm.train_dataloader())
    net = create_model("lenet5", input_size=dm.input_dim, num_classes=10, padding=2)
    train_images(net, batches, epochs=2, lr=2e-3)
    rel = relevance_of(net, net.conv1, batches[:2], 10)
    assert rel.shape == (20,) and bool((rel >= -1e-6).all())
    result = hrel_prune_lenet5(
        net, batches, 10, targets=(6, 10), fractions=(0.3, 0.5), finetune_epochs=1, relevance_batches=2
    )
    assert [len(k) for k in result.kept] == [6, 10]
    assert result.history[-1]["filters"] == [6, 10] and len(result.history) >= 2
    x = next(iter(dm.test_dataloader()))[0][:8]
    assert torch.allclose(net.eval()(x), result.model(x), atol=1e-4)  # the masked net == the smaller one
