"""What the sequence DataModules share (aeon-bundled sets, ``.ts``/``.arff`` files, ``.npz`` arrays): the test and
validation splits, the label mapping, the input statistics, and the per-sequence preprocessing.

Subclasses only load: :meth:`SequenceDataModule.load_splits` returns the train split and, when the data has
them, test and val splits. Everything after that is here, the same for every source:

1. no test split: a stratified ``test_fraction`` of the training data is held out (seeded with
   ``TEST_SPLIT_SEED``, the same for every run seed, so runs of different seeds are tested on the same samples);
2. no val split: a stratified ``val_fraction`` of the rest is held out (seeded with ``seed``);
3. labels -> class indices in sorted order (numeric for int labels, lexicographic for strings), from the
   training labels; a val or test label that never occurs in training is an error;
4. per channel, the training part's mean and std (NaNs ignored);
5. :meth:`SequenceDataModule.preprocess` on every split: NaN -> that channel's training mean, then
   ``(x - mean) / std`` (so an imputed value is 0 after standardisation).

:meth:`SequenceDataModule.dataset_info` is what the run folder's ``classes.json`` holds: the class names in the
order of the model's outputs and the numbers of step 5, which an exported model's input needs.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

import numpy as np

from har_vib.data.patching import auto_patch_length, patch_sequence
from har_vib.data.sequence_files import SequenceSplit
from har_vib.data.sequences import SequenceDataset, channel_stats, pad_collate, stratified_split
from har_vib.datamodules.base import ClassificationDataModule
from har_vib.errors import ConfigError

log = logging.getLogger(__name__)

DATASET_INFO_FILE = "classes.json"
TEST_SPLIT_SEED = 0


def _carve(
    split: SequenceSplit, fraction: float, seed: int, what: str, key: str
) -> tuple[SequenceSplit, SequenceSplit, np.ndarray, np.ndarray]:
    """``(kept, held out, kept indices, held-out indices)``: ``fraction`` of every class held out for the ``what``
    split, seeded; the indices are positions in ``split``. A class of a single sample cannot be in both parts, and
    a split that must be carved cannot be empty: ConfigError naming the key."""
    if fraction <= 0:
        raise ConfigError(
            f"{key}={fraction}: {split.source} has no {what} split of its own, so a share of it must be held out "
            f"({'early stopping, checkpoint selection and sweeps read it' if what == 'validation' else 'to test on'})"
            f"; set e.g. {key}=0.2"
            + (' or mark samples "val" in its split array' if what == "validation" and ".npz" in split.source else "")
        )
    where = " left for training" if what == "validation" else ""
    if fraction > 0:
        values, counts = np.unique(split.labels, return_counts=True)
        single = [str(v) for v, k in zip(values.tolist(), counts.tolist()) if k < 2]
        if single:
            raise ConfigError(
                f"{split.source}: class {', '.join(map(repr, single[:5]))} has a single sample{where}, but the "
                f"stratified {what} split ({key}={fraction}) needs at least 2 of every class; add samples of it or "
                "drop it"
            )
    kept, held = stratified_split(split.labels, fraction, seed)
    return split.subset(kept), split.subset(held), kept, held


class SequenceDataModule(ClassificationDataModule):
    """Train / val / test from :meth:`load_splits`, preprocessed (see the module docstring). Batches are
    ``(x, lengths, y)``: ``x`` (B, T_max, C) float32 right-padded with zeros, ``lengths`` (B,) int64, ``y`` (B,)
    class indices.

    Args:
        val_fraction: share of every class of the training data held out for validation when the data has no
            val split; in [0, 1).
        test_fraction: share of every class held out for testing when the data has no test split; in (0, 1).
        standardize: standardise channels with the training part's statistics (NaNs are imputed either way).
        patch_length: steps grouped into one LSTM input, (T, C) -> (ceil(T / P), P * C) (see
            :mod:`har_vib.data.patching`); ``"auto"``: the smallest P that unrolls the longest training sequence
            over at most ``max_rnn_steps`` steps (1 for short sequences).
        max_rnn_steps: the recurrence length ``patch_length="auto"`` aims at.
    """

    collate_fn = staticmethod(pad_collate)

    def __init__(
        self,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        batch_size: int = 10,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        standardize: bool = True,
        seed: int = 0,
        patch_length: int | str = "auto",
        max_rnn_steps: int = 64,
    ) -> None:
        super().__init__()
        if patch_length != "auto" and not (isinstance(patch_length, int) and patch_length >= 1):
            raise ConfigError(f"dataset.patch_length={patch_length!r}: must be 'auto' or an integer >= 1, e.g. 1")
        if not (isinstance(max_rnn_steps, int) and max_rnn_steps >= 1):
            raise ConfigError(f"dataset.max_rnn_steps={max_rnn_steps!r}: must be an integer >= 1, e.g. 64")
        self.patch_length = 1
        self.channels = 0
        if batch_size <= 0:
            raise ConfigError(f"dataset.batch_size must be > 0, got {batch_size}")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"dataset.val_fraction={val_fraction}: must be in [0, 1), e.g. 0.2")
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"dataset.test_fraction={test_fraction}: must be in (0, 1), e.g. 0.2")
        self.train_set: Optional[SequenceDataset] = None
        self.val_set: Optional[SequenceDataset] = None
        self.test_set: Optional[SequenceDataset] = None
        self.class_names: list[str] = []
        self.input_dim = 0
        self.mean = np.zeros(0, np.float32)  # (C,) subtracted from every step
        self.std = np.ones(0, np.float32)  # (C,) divided by
        self.fill = np.zeros(0, np.float32)  # (C,) what NaN becomes, before standardisation
        self.sources: dict[str, str] = {}
        self.held_out: dict[str, list[int]] = {}
        self.sizes: dict[str, int] = {}

    @property
    def num_classes(self) -> int:
        """Number of classes (after :meth:`setup`)."""
        return len(self.class_names)

    def load_splits(self) -> dict[str, SequenceSplit]:
        """``{"train": ...}`` plus ``"test"`` and ``"val"`` when the data has them (else they are carved out)."""
        raise NotImplementedError

    def setup(self, stage: Optional[str] = None) -> None:
        """Load, split, map labels, fit the statistics and preprocess, once; later calls are no-ops.

        Raises:
            ConfigError: naming the file: a class with one sample where a split needs two, a single class,
                val/test labels unknown to training, splits with different channel counts.
        """
        if self.train_set is not None:
            return
        hp = self.hparams
        parts = self.load_splits()
        train, test, val = parts["train"], parts.get("test"), parts.get("val")
        origin = np.arange(len(train))  # positions in the training file, for classes.json
        self.held_out: dict[str, list[int]] = {}
        if test is None:
            train, test, kept, held = _carve(train, hp.test_fraction, TEST_SPLIT_SEED, "test", "dataset.test_fraction")
            self.held_out["test"] = origin[held].tolist()
            origin = origin[kept]
            test.source = f"{train.source} (held out: no test file)"
            log.info(
                "%s has no test split: a stratified %g%% of every class (%d sequences, seed %d) is held out as test",
                train.source,
                100 * hp.test_fraction,
                len(test),
                TEST_SPLIT_SEED,
            )
        if val is None:
            train, val, kept, held = _carve(train, hp.val_fraction, int(hp.seed), "validation", "dataset.val_fraction")
            self.held_out["val"] = origin[held].tolist()
        splits = {"train": train, "val": val, "test": test}
        channels = {name: {int(s.shape[1]) for s in split.sequences} for name, split in splits.items()}
        if len(set().union(*channels.values())) > 1:
            seen = ", ".join(f"{splits[k].source}: {sorted(v)}" for k, v in channels.items() if v)
            raise ConfigError(f"the splits' sequences have different channel counts ({seen}); they must all match")
        classes = np.unique(train.labels)
        if len(classes) < 2:
            raise ConfigError(
                f"{train.source}: its training part has a single class ({classes.tolist()}); a classifier needs 2+"
            )
        self.class_names = [str(c) for c in classes.tolist()]
        index = {c: i for i, c in enumerate(classes.tolist())}
        for name in ("val", "test"):
            unknown = sorted({str(c) for c in splits[name].labels.tolist() if c not in index})
            if unknown:
                lowered = {c.lower() for c in self.class_names}
                fix = (
                    "they differ from the training classes only in case: aeon's .ts reader lower-cases class labels "
                    "and its .arff reader does not; give the train and test files in the same format"
                    if all(u.lower() in lowered for u in unknown)
                    else "drop those samples or add training ones"
                )
                raise ConfigError(
                    f"{splits[name].source}: {name} labels {unknown[:10]} never occur in the training data "
                    f"({train.source}, classes {self.class_names[:10]}); {fix}"
                )
        self.fill, std = channel_stats(train.sequences)
        self.mean = self.fill if hp.standardize else np.zeros_like(self.fill)
        self.std = std if hp.standardize else np.ones_like(std)
        self.channels = int(train.sequences[0].shape[1])
        longest = max(len(s) for s in train.sequences)
        auto = hp.get("patch_length", "auto") == "auto"
        self.patch_length = auto_patch_length(longest, hp.get("max_rnn_steps", 64)) if auto else int(hp.patch_length)
        self.input_dim = self.channels * self.patch_length
        if self.patch_length > 1:
            log.info(
                "patches of %d steps: the LSTM reads (ceil(T / %d), %d) inputs, %d steps for the longest sequence "
                "(dataset.patch_length=1 reads every step)",
                self.patch_length,
                self.patch_length,
                self.input_dim,
                math.ceil(longest / self.patch_length),
            )
        self.sources = {name: split.source for name, split in splits.items()}
        self.sizes = {name: len(split) for name, split in splits.items()}
        imputed = {name: int(sum(np.isnan(s).sum() for s in split.sequences)) for name, split in splits.items()}
        if any(imputed.values()):
            log.info(
                "NaN values imputed with their channel's training mean (0 after standardisation): %s",
                ", ".join(f"{name} {count}" for name, count in imputed.items()),
            )
        ready = {}
        for name, split in splits.items():
            targets = np.array([index[c] for c in split.labels.tolist()], dtype=np.int64)
            done = self.preprocess(SequenceSplit(split.sequences, targets, split.source))
            ready[name] = SequenceDataset(done.sequences, done.labels)
        self.train_set, self.val_set, self.test_set = ready["train"], ready["val"], ready["test"]
        lengths = [len(s) for s in train.sequences]
        log.info(
            "data: %d train / %d val / %d test sequences, %d channel(s), %d..%d steps, %d classes",
            len(train),
            len(val),
            len(test),
            self.channels,
            min(lengths),
            max(lengths),
            self.num_classes,
        )

    def preprocess(self, split: SequenceSplit) -> SequenceSplit:
        """The per-sequence preprocessing, the same for train, val and test, and what a user of the exported model
        must do to its input (:meth:`dataset_info` holds the numbers): each (T_i, C) sequence gets NaN -> ``fill``
        (the channel's training mean), then ``(x - mean) / std``, then patches of ``patch_length`` steps:
        (T_i, C) -> (ceil(T_i / P), P * C), zero-padded at the end. ``split.labels`` are class indices (N,) and are
        carried along, so a step that turns one sequence into several returns each one's label with it.

        Returns:
            A new split of (ceil(T_i / P), P * C) float32 sequences; ``split`` is left as it was.
        """
        out = []
        for seq in split.sequences:
            filled = np.where(np.isnan(seq), self.fill, seq)
            out.append(patch_sequence(((filled - self.mean) / self.std).astype(np.float32), self.patch_length))
        return SequenceSplit(out, split.labels, split.source)

    def dataset_info(self) -> dict[str, Any]:
        """``classes.json``: ``classes`` (output index -> name), the input's channel count and the preprocessing
        numbers (each (C,) lists), where each split came from and its size. Call after :meth:`setup`."""
        if self.train_set is None:
            raise RuntimeError("call setup() before dataset_info()")
        return {
            "classes": self.class_names,
            "channels": self.channels,
            "patch_length": self.patch_length,
            "input_dim": self.input_dim,
            "preprocess": "x[isnan(x)] = fill (per channel); x = (x - mean) / std; zero-pad T to a multiple of "
            "patch_length P and reshape (T, C) -> (T / P, P * C); x: (B, T / P, P * C) float32 padded right, with "
            "lengths ceil(T_i / P) (B,) int64",
            "fill": self.fill.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "standardize": bool(self.hparams.standardize),
            "sources": self.sources,
            "sizes": self.sizes,
            # the splits carved out of the training data (sources["train"]): 0-based positions among its training
            # sequences (for an .npz with a split array: among its "train" entries)
            "held_out": self.held_out,
        }
