"""At the end of fit: prune the VIB model, fine-tune and evaluate the compact model, export, report."""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from har_vib.compression import (
    NothingKeptError,
    collapsed_report,
    compress,
    evaluate_accuracy,
    export_compact,
    finetune,
    recurrent_weight_count,
    write_json,
)
from har_vib.compression.distill import distillation_loss_fn, load_teacher
from har_vib.compression.exactness import logit_parity, require_exact
from har_vib.compression.iss import ISSStage, group_lasso_penalty, iss_compress, zero_small_weights_
from har_vib.compression.magnitude import apply_masks_, magnitude_masks, nonzero_param_count
from har_vib.compression.onnx_export import has_dynamic_time
from har_vib.compression.params import deployable_param_count
from har_vib.compression.prune import size_report
from har_vib.deploy.stages import deploy_stages, stages_markdown
from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.reports.plots import plot_alive_history
from har_vib.utils.checkpoints import load_lightning_state_dict
from har_vib.vib.collapse import collapse_settings

log = logging.getLogger(__name__)


def _stage_metrics(rows: list[dict[str, Any]], metrics: dict[str, Any]) -> None:
    """Put the deploy stages after fp32 into ``metrics``: ``test_acc_<stage>`` (PyTorch), ``onnx_test_acc_<stage>``
    (None when its ONNX file was not written) and, then, ``onnx_<stage>_skipped`` with the reason (logged too)."""
    for row in rows[1:]:
        stage = row["stage"]
        metrics[f"test_acc_{stage}"] = row["test_acc"]
        metrics[f"onnx_test_acc_{stage}"] = row["onnx_test_acc"]
        if row.get("onnx_skipped"):
            metrics[f"onnx_{stage}_skipped"] = row["onnx_skipped"]
            log.warning("%s stage: %s", stage, row["onnx_skipped"])
    log.info("deploy stages:\n%s", stages_markdown(rows))


def _naive_report(net: SequenceClassifier) -> dict[str, Any]:
    rnn = net.rnn
    report = size_report(
        rnn, recurrent_weight_count(rnn), list(range(rnn.input_size)), list(range(rnn.hidden_size)), None
    )
    report["total_params_before"] = report["total_params_after"] = deployable_param_count(net)
    weight_ih = getattr(rnn, "weight_ih", None)
    report["method"] = "none" if weight_ih is None else ("tensor_ring" if weight_ih.is_ring else "tensor_train")
    if hasattr(rnn, "size_report"):  # a factorised layer: whether it is larger than the dense one, both counts
        report.update(rnn.size_report())
        if report["factorised_larger_than_dense"]:
            log.warning("compression_ratio %.3g < 1: %s", report["compression_ratio"], weight_ih.size.describe())
    return report


def log_summary(trainer: L.Trainer, figures: dict[str, Any]) -> None:
    """Put scalar ``figures`` into every logger: W&B's run summary, a final metrics row elsewhere."""
    scalars = {k: float(v) for k, v in figures.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(scalars)
        else:
            logger.log_metrics({f"final/{k}": v for k, v in scalars.items()}, step=trainer.global_step)
            logger.save()


def save_run_reports(
    trainer: L.Trainer, output_dir: Path, metrics: dict[str, Any], report: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``metrics.json`` and ``compression.json`` into ``output_dir``, put their scalars into the loggers and
    log the metrics; returns both (the callbacks keep them as ``metrics`` / ``report``)."""
    write_json(metrics, output_dir / "metrics.json")
    write_json(report, output_dir / "compression.json")
    log_summary(trainer, {**metrics, **report})
    log.info("metrics: %s", metrics)
    return metrics, report


@dataclasses.dataclass
class _FitData:
    """What every pruning stage reads and writes: the loaders, the device and the run's metrics."""

    train_loader: Iterable
    val_loader: Iterable
    test_loader: Iterable
    device: torch.device
    metrics: dict[str, Any]

    def accuracy(self, model: torch.nn.Module) -> float:
        return evaluate_accuracy(model, self.test_loader, self.device)

    def val_accuracy(self, model: torch.nn.Module) -> float:
        """Accuracy on the validation split: what sweeps select by (the test split stays untouched)."""
        return evaluate_accuracy(model, self.val_loader, self.device)


class PruneExportCallback(L.Callback):
    """Writes ``metrics.json``, ``compression.json``, the compact model and ``sparsity.png`` into ``output_dir``.

    Args:
        output_dir: the run folder.
        weights: ``"last"`` prunes the weights fit ended with; ``"best"`` reloads the best checkpoint first.
        finetune_epochs: epochs of fine-tuning of the compact model (its pruning pattern fixed); 0 skips it.
        finetune_lr: fine-tuning learning rate (Adam).
        finetune_weight_decay: fine-tuning weight decay (Adam).
        grad_clip: fine-tuning gradient-norm clip.
        distill: ``{teacher, temperature, alpha}``; with a teacher (a finished run folder, e.g. of
            ``model=naive_lstm``, or a TorchScript file) the compact model is fine-tuned on the distillation loss,
            and a copy fine-tuned on cross-entropy alone is evaluated beside it (``test_acc_pruned_ce``).
        quantize: also quantize to dynamic int8 (PyTorch and onnxruntime) and report accuracy, size and latency
            beside the fp32 export (``compression.json: deploy``); ``pruned_int8.onnx`` is written only when all
            its weights are int8 and it is smaller, else the row and ``metrics.json: onnx_int8_skipped`` say why.

    The compact model must reproduce the model it was pruned from, and ``pruned.pt`` / ``pruned.onnx`` the compact
    model, to float round-off (:mod:`har_vib.compression.exactness`): otherwise the callback raises
    :class:`~har_vib.compression.exactness.InexactExportError` instead of exporting.

    A VIB model whose LightningModule has an ``iss_stage`` (``model=vib_iss_lstm``) gets the ISS stage between
    pruning and fine-tuning (docs/methods/iss.md).
    """

    def __init__(
        self,
        output_dir: str,
        weights: str = "last",
        finetune_epochs: int = 0,
        finetune_lr: float = 1e-3,
        finetune_weight_decay: float = 0.0,
        grad_clip: Optional[float] = 1.0,
        distill: Optional[Mapping[str, Any]] = None,
        quantize: bool = False,
    ) -> None:
        if weights not in ("last", "best"):
            raise ValueError(f"weights must be 'last' or 'best', got {weights!r}")
        self.output_dir = Path(output_dir)
        self.weights = weights
        self.finetune_epochs = finetune_epochs
        self.finetune_lr = finetune_lr
        self.finetune_weight_decay = finetune_weight_decay
        self.grad_clip = grad_clip
        self.distill = dict(distill or {})
        self.quantize = quantize
        self.metrics: dict[str, Any] = {}
        self.report: dict[str, Any] = {}

    def _load_best(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the checkpoint callback that ranks epochs (the one without a monitor keeps the latest epoch)
        ckpt = next((cb for cb in trainer.checkpoint_callbacks if getattr(cb, "monitor", None)), None)
        path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
        if not path:
            log.warning("weights=best but no best checkpoint exists; pruning the last weights")
            return
        pl_module.load_state_dict(load_lightning_state_dict(path, map_location=pl_module.device))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or getattr(trainer, "fast_dev_run", False):
            return
        if trainer.is_global_zero:  # under DDP: pruning, fine-tuning, export and reports once, on the full data
            self._prune_and_report(trainer, pl_module)
        trainer.strategy.barrier("pruned")  # every rank goes on (to testing) once the reports exist

    def _prune_and_report(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.weights == "best":
            self._load_best(trainer, pl_module)
        dm = trainer.datamodule
        net: SequenceClassifier = pl_module.net
        self.output_dir.mkdir(parents=True, exist_ok=True)
        fit = _FitData(dm.train_dataloader(whole=True), dm.val_dataloader(), dm.test_dataloader(), pl_module.device, {})
        metrics = fit.metrics
        metrics["test_acc"] = fit.accuracy(net)
        metrics["val_acc"] = fit.val_accuracy(net)
        if net.is_vib:
            settings = collapse_settings(pl_module.hparams)  # beta, model.ib_lr: named if the bottlenecks collapse
            report, compact = self._prune(net, fit, getattr(pl_module, "iss_stage", None), settings)
        elif getattr(pl_module, "uses_iss", False):
            hp = pl_module.hparams
            lasso = {"model.group_lasso": hp.group_lasso}  # named if the group lasso removes every unit
            report, compact = self._prune_iss(net, fit, hp.iss_threshold, hp.iss_include_head, lasso)
        elif getattr(pl_module, "magnitude_keep", 0):
            report, compact = self._prune_magnitude(net, fit, pl_module.magnitude_keep)
        else:
            report, compact = _naive_report(net), net
        if compact is not None:
            x, lengths, _ = next(iter(fit.test_loader))
            exported = export_compact(compact, self.output_dir, (x, lengths))
            for key in ("torchscript_max_abs_diff", "onnx_max_abs_diff", "export_file_tolerance"):
                report[key] = exported[key]
            if has_dynamic_time(compact):  # a deployable nn.LSTM/GRU: fp32 and int8 side by side
                clip = (x[:1], lengths[:1])
                report["deploy"] = deploy_stages(compact, exported["onnx"], fit.test_loader, self.quantize, clip)
                _stage_metrics(report["deploy"], metrics)
        if metrics.get("test_acc_pruned") is not None:
            metrics["val_acc_pruned"] = fit.val_accuracy(compact if compact is not None else net)
        history = getattr(pl_module, "alive_history", [])
        if history:
            plot_alive_history(history, self.output_dir / "sparsity.png")
            write_json({"history": history}, self.output_dir / "sparsity.json")
        net.train()
        self.metrics, self.report = save_run_reports(trainer, self.output_dir, metrics, report)
        log.info(
            "compression: %s -> %s LSTM params (%s), inputs %s -> %s, hidden %s -> %s",
            report["lstm_params_before"],
            report["lstm_params_after"],
            "collapsed" if report["compression_ratio"] is None else f"{report['compression_ratio']}x",
            report["input_dim_before"],
            report["input_dim_after"],
            report["hidden_before"],
            report["hidden_after"],
        )

    def _prune(
        self,
        net: SequenceClassifier,
        fit: _FitData,
        iss_stage: Optional[ISSStage] = None,
        settings: Optional[Mapping[str, Any]] = None,
    ) -> tuple[dict[str, Any], Optional[SequenceClassifier]]:
        try:
            result = compress(net, settings)
        except NothingKeptError as err:
            log.warning("%s; the compact model is a constant predictor", err)
            fit.metrics["test_acc_pruned"] = fit.metrics["test_acc"]  # the masked model outputs the head bias only
            return {**collapsed_report(net), "collapse": str(err)}, None
        report = {**result.report, "method": "vib"}
        stage = None
        if iss_stage is not None and iss_stage.group_lasso > 0:
            stage = lambda c, r: self._iss_stage(c, r, fit, iss_stage)  # noqa: E731
        return self._finish(net, result.model, report, fit, stage)

    def _finish(
        self,
        reference: SequenceClassifier,
        compact: SequenceClassifier,
        report: dict[str, Any],
        fit: _FitData,
        stage: Optional[Callable[[SequenceClassifier, dict], tuple[SequenceClassifier, dict]]] = None,
        after_step: Optional[Callable[[torch.nn.Module], object]] = None,
    ) -> tuple[dict[str, Any], SequenceClassifier]:
        """Check the export against ``reference``, evaluate, run ``stage`` (if any), fine-tune, evaluate again."""
        parity = logit_parity(reference, compact, fit.test_loader, fit.device)
        report["export_max_abs_diff"], report["export_tolerance"] = parity.max_abs_diff, parity.tolerance
        require_exact(parity, "the compact model against the model it was pruned from", "nothing was exported")
        fit.metrics["test_acc_pruned_before_finetune"] = fit.accuracy(compact)
        if stage is not None:
            compact, report = stage(compact, report)
        teacher_path = self.distill.get("teacher")
        if teacher_path:
            plain = copy.deepcopy(compact)
            self._finetune(plain, fit, after_step=after_step)
            fit.metrics["test_acc_pruned_ce"] = fit.accuracy(plain)
            temperature, alpha = float(self.distill.get("temperature", 4.0)), float(self.distill.get("alpha", 0.7))
            loss_fn = distillation_loss_fn(load_teacher(str(teacher_path), fit.device), temperature, alpha)
            self._finetune(compact, fit, after_step=after_step, loss_fn=loss_fn)
            report["distill"] = {"teacher": str(teacher_path), "temperature": temperature, "alpha": alpha}
        else:
            self._finetune(compact, fit, after_step=after_step)
        report["finetune_epochs"] = self.finetune_epochs
        fit.metrics["test_acc_pruned"] = fit.accuracy(compact)
        return report, compact

    def _finetune(self, model: torch.nn.Module, fit: _FitData, **extra: Any) -> None:
        epochs = extra.pop("epochs", self.finetune_epochs)
        if epochs > 0:
            finetune(
                model,
                fit.train_loader,
                epochs=epochs,
                lr=self.finetune_lr,
                weight_decay=self.finetune_weight_decay,
                grad_clip=self.grad_clip,
                device=fit.device,
                **extra,
            )

    def _prune_iss(
        self,
        net: SequenceClassifier,
        fit: _FitData,
        threshold: float,
        include_head: bool,
        settings: Optional[Mapping[str, Any]] = None,
    ) -> tuple[dict[str, Any], Optional[SequenceClassifier]]:
        """ISS-trained plain model: remove the units whose groups fell to the threshold, fine-tune, evaluate."""
        thresholded = copy.deepcopy(net)
        try:
            result = iss_compress(thresholded, threshold, include_head, settings)
        except NothingKeptError as err:
            log.warning("%s; the compact model is a constant predictor", err)
            fit.metrics["test_acc_pruned"] = None
            collapsed = {"lstm_params_after": 0, "compression_ratio": None, "hidden_after": 0, "collapsed": True}
            collapsed["collapse"] = str(err)
            return {**_naive_report(net), **collapsed, "method": "iss"}, None
        return self._finish(thresholded, result.model, dict(result.report), fit)

    def _prune_magnitude(
        self, net: SequenceClassifier, fit: _FitData, keep: int
    ) -> tuple[dict[str, Any], SequenceClassifier]:
        """Magnitude-prune a copy of the trained plain model to ``keep`` parameters, fine-tune with the mask held."""
        pruned = copy.deepcopy(net)
        masks = magnitude_masks(pruned.rnn, keep)
        apply_masks_(pruned.rnn, masks)
        report = {**_naive_report(net), "method": "magnitude", "dense_storage": True}
        report, pruned = self._finish(pruned, pruned, report, fit, after_step=lambda m: apply_masks_(m.rnn, masks))
        after = nonzero_param_count(pruned.rnn)  # counted from the fine-tuned module
        report.update({"lstm_params_after": after, "compression_ratio": report["lstm_params_before"] / after})
        return report, pruned

    def _iss_stage(
        self, compact: SequenceClassifier, vib_report: dict[str, Any], fit: _FitData, iss: ISSStage
    ) -> tuple[SequenceClassifier, dict[str, Any]]:
        """VIB + ISS: group lasso on the VIB-compact model, then remove the emptied units (docs/methods/iss.md)."""
        self._finetune(
            compact,
            fit,
            epochs=iss.epochs,
            penalty=lambda m: iss.group_lasso * group_lasso_penalty(m, iss.include_head),
            after_step=lambda m: zero_small_weights_(m, iss.zero_threshold, iss.include_head),
        )
        fit.metrics["test_acc_vib_compact_after_iss_training"] = fit.accuracy(compact)
        try:
            lasso = {"model.iss_stage.group_lasso": iss.group_lasso}
            result = iss_compress(compact, iss.threshold, iss.include_head, lasso, "model.iss_stage.threshold")
        except NothingKeptError as err:
            log.warning("ISS stage: %s; keeping the VIB-compact model", err)
            return compact, vib_report
        # the thresholded VIB-compact model (its removed units zeroed in place) against the smaller one
        parity = logit_parity(compact, result.model, fit.test_loader, fit.device)
        require_exact(
            parity, "the ISS-compact model against the VIB-compact model it was shrunk from", "nothing was exported"
        )
        report = dict(vib_report)
        report["iss_export_max_abs_diff"] = parity.max_abs_diff
        iss_report = result.report
        for key in ("lstm_params_after", "lstm_params_after_1bias", "hidden_after", "total_params_after"):
            report[key] = iss_report[key]
        report["kept_hidden"] = [vib_report["kept_hidden"][k] for k in iss_report["kept_hidden"]]
        report["compression_ratio"] = report["lstm_params_before"] / report["lstm_params_after"]
        report["compression_ratio_1bias"] = report["lstm_params_before_1bias"] / report["lstm_params_after_1bias"]
        report["method"] = "vib+iss"
        vib_sizes = {k: vib_report[k] for k in ("lstm_params_after", "hidden_after")}
        report["stages"] = {"vib": vib_sizes, "iss": dataclasses.asdict(iss)}
        return result.model, report
