"""Structured pruning of VIB models to standard compact ones, parameter accounting and export."""

from har_vib.compression.export import export_compact, model_spec, write_json
from har_vib.compression.finetune import evaluate_accuracy, finetune
from har_vib.compression.params import recurrent_param_count, recurrent_weight_count
from har_vib.compression.prune import CompressionResult, NothingKeptError, collapsed_report, compress, kept_sets
from har_vib.compression.wrap import vib_from_naive, vib_from_pretrained

__all__ = [
    "CompressionResult",
    "NothingKeptError",
    "collapsed_report",
    "compress",
    "evaluate_accuracy",
    "export_compact",
    "finetune",
    "kept_sets",
    "model_spec",
    "recurrent_param_count",
    "recurrent_weight_count",
    "vib_from_naive",
    "vib_from_pretrained",
    "write_json",
]
