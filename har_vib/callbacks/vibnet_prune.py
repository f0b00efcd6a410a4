"""At the end of fit on images: prune the VIBNet bottlenecks into a smaller standard network, check it against
the bottlenecked net, evaluate, export (TorchScript, ONNX) and write metrics.json / compression.json.

A plain LeNet-5 can instead be filter-pruned after training (``filter_pruning.method=hrel|l1``): HRel's
iterative relevance prune + fine-tune, or the L1-norm baseline (Torch-Pruning) with the same fine-tuning budget,
down to ``filter_pruning.targets`` filters per conv layer; the outputs are the same files."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from torch import nn

from har_vib.callbacks.prune_export import save_run_reports
from har_vib.compression.exactness import logit_parity, require_exact
from har_vib.compression.export import save_torchscript
from har_vib.errors import ConfigError
from har_vib.hrel.l1_baseline import l1_prune_lenet5
from har_vib.hrel.prune import hrel_prune_lenet5, train_images
from har_vib.reports.plots import plot_alive_history
from har_vib.training.metrics import image_accuracy  # defined here before; still importable from here
from har_vib.utils.io import atomic_save
from har_vib.vib.collapse import NothingKeptError, collapse_settings
from har_vib.vibnet.models import IBLeNet5
from har_vib.vibnet.prune import architecture_counts, prune_network, size_report

FILTER_METHODS = ("none", "hrel", "l1")

log = logging.getLogger(__name__)


@torch.no_grad()
def export_image_model(model: nn.Module, out_dir: Path, example: torch.Tensor) -> dict[str, str]:
    """``pruned.pt`` (TorchScript) and ``pruned.onnx`` (dynamic batch) of ``model``, from a CPU copy."""
    import copy

    model = copy.deepcopy(model).eval().cpu()
    example = example.cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model)
        save_torchscript(scripted, out_dir / "pruned.pt")  # in memory, then Python I/O: a full disk is an OSError

        def write_onnx(tmp: str) -> None:
            torch.onnx.export(
                model,
                (example,),
                tmp,
                dynamo=False,
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            )

        atomic_save(write_onnx, out_dir / "pruned.onnx")
    return {"torchscript": str(out_dir / "pruned.pt"), "onnx": str(out_dir / "pruned.onnx")}


class VIBNetPruneCallback(L.Callback):
    """Writes ``metrics.json``, ``compression.json`` (rW, rN, FLOPs, activations, errors), ``pruned.pt``,
    ``pruned.onnx`` and ``sparsity.png`` into ``output_dir``."""

    def __init__(self, output_dir: str, filter_pruning: Optional[Mapping[str, Any]] = None) -> None:
        self.output_dir = Path(output_dir)
        self.filter_pruning = dict(filter_pruning or {})
        self.filter_method = str(self.filter_pruning.get("method", "none") or "none")
        if self.filter_method not in FILTER_METHODS:
            raise ConfigError(
                f"callbacks.vibnet_prune.filter_pruning.method={self.filter_method!r}: use {', '.join(FILTER_METHODS)}"
            )
        self.metrics: dict[str, Any] = {}
        self.report: dict[str, Any] = {}

    def _filter_prune(self, net: nn.Module, dm: Any, shape: tuple[int, ...]) -> tuple[nn.Module, dict[str, Any]]:
        """HRel or L1 filter pruning of the trained plain LeNet-5 (a copy, on CPU) to the configured targets."""
        if getattr(net, "is_vib", False) or not isinstance(net, IBLeNet5):
            raise ConfigError(
                f"filter_pruning.method={self.filter_method} prunes a plain LeNet-5: use model=lenet5 "
                f"(got {type(net).__name__}{' with bottlenecks' if getattr(net, 'is_vib', False) else ''})"
            )
        fp = self.filter_pruning
        targets = tuple(int(t) for t in fp.get("targets", (2, 8)))
        epochs, lr = int(fp.get("finetune_epochs", 5)), float(fp.get("lr", 1e-3))
        work = copy.deepcopy(net).cpu().eval()
        batches = list(dm.train_dataloader(whole=True))
        if self.filter_method == "hrel":
            result = hrel_prune_lenet5(
                work,
                batches,
                dm.num_classes,
                targets,
                tuple(float(f) for f in fp.get("fractions", (0.04, 0.12))),
                epochs,
                lr,
                fp.get("relevance_batches"),
            )
            compact, rounds = result.model, len(result.history)
        else:
            rounds = 1
            l1_prune_lenet5(work, torch.zeros(1, *shape), targets)
            train_images(work, batches, int(fp.get("l1_epochs") or epochs), lr)
            compact = prune_network(work, shape).model
        report = {
            "method": self.filter_method,
            "targets": list(targets),
            "rounds": rounds,
            **size_report(architecture_counts(net, shape), architecture_counts(compact, shape)),
        }
        return compact.eval(), report

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or getattr(trainer, "fast_dev_run", False):
            return
        if trainer.is_global_zero:  # under DDP: pruning, fine-tuning, export and reports once, on the full data
            self._prune_and_report(trainer, pl_module)
        trainer.strategy.barrier("pruned")  # every rank goes on (to testing) once the reports exist

    def _prune_and_report(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm, net, device = trainer.datamodule, pl_module.net, pl_module.device
        self.output_dir.mkdir(parents=True, exist_ok=True)
        test, val = dm.test_dataloader(), dm.val_dataloader()
        shape = tuple(dm.input_dim)
        metrics: dict[str, Any] = {"test_acc": image_accuracy(net, test, device)}
        if val:
            metrics["val_acc"] = image_accuracy(net, val, device)
        if self.filter_method != "none":
            compact, report = self._filter_prune(net, dm, shape)
            cpu = torch.device("cpu")
            metrics["test_acc_pruned"] = image_accuracy(compact, test, cpu)
            if val:
                metrics["val_acc_pruned"] = image_accuracy(compact, val, cpu)
        elif net.is_vib:
            try:
                pruned = prune_network(net, shape, collapse_settings(pl_module.hparams))
            except NothingKeptError as err:  # a constant predictor: reported, nothing to export
                log.warning("%s; the compact model is a constant predictor", err)
                compact = None
                counts = architecture_counts(net, shape)
                report = {
                    "method": "vibnet",
                    **size_report(counts, dict.fromkeys(counts, 0)),
                    "collapsed": True,
                    "collapse": str(err),
                }
                metrics["test_acc_pruned"] = metrics["test_acc"]  # the masked net outputs a constant already
                if val:
                    metrics["val_acc_pruned"] = metrics["val_acc"]
            else:
                compact = pruned.model
                # held to float round-off like every export, before anything is written
                parity = logit_parity(net, compact, test, device)
                require_exact(parity, "the pruned network against the bottlenecked one", "nothing was exported")
                report = {
                    "method": "vibnet",
                    **pruned.report,
                    "export_max_abs_diff": parity.max_abs_diff,
                    "export_tolerance": parity.tolerance,
                }
                metrics["test_acc_pruned"] = image_accuracy(compact, test, device)
                if val:
                    metrics["val_acc_pruned"] = image_accuracy(compact, val, device)
        else:  # the same layers as a plain nn.Sequential (exact, and exportable by TorchScript)
            compact = prune_network(net, shape).model
            counts = architecture_counts(net, shape)
            report = {"method": "none", **size_report(counts, counts)}
        metrics["test_error"] = 1.0 - metrics.get("test_acc_pruned", metrics["test_acc"])
        x, _ = next(iter(test))
        if compact is not None:
            export_image_model(compact, self.output_dir, x[:2])
        history = getattr(pl_module, "alive_history", [])
        if history:
            plot_alive_history(history, self.output_dir / "sparsity.png")
        net.train()
        self.metrics, self.report = save_run_reports(trainer, self.output_dir, metrics, report)
        log.info(
            "rW %.2f%%, rN %.2f%%, FLOPs %.2f%%, neurons %s -> %s",
            100 * report["rW"],
            100 * report["rN"],
            100 * report["flops_ratio"],
            report["neurons_before"],
            report["neurons_after"],
        )
