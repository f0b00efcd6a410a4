"""``dataset=arrays``: the user's own sequences from NumPy ``.npz`` archives (layout:
:mod:`har_vib.data.sequence_files`)."""

from __future__ import annotations

from typing import Optional

from har_vib.data.sequence_files import SequenceSplit, load_npz, npz_files
from har_vib.datamodules.sequence_datamodule import SequenceDataModule
from har_vib.errors import ConfigError


class ArrayDataModule(SequenceDataModule):
    """Sequences from ``path`` (an ``.npz`` with ``X``, ``y``, optional ``lengths`` and ``split``) and, optionally,
    a separate test archive ``test_path``. Without a ``split`` array or a test file, a stratified
    ``test_fraction`` is held out as test; without ``"val"`` entries, ``val_fraction`` of the training part is
    held out for validation (:class:`SequenceDataModule`). ``name`` is a label only (loggers name runs with it).

    Raises:
        ConfigError: no ``path``, a missing file, a wrong extension (here); a bad archive (in :meth:`setup`), a
            test split given twice (``split`` with ``"test"`` entries and ``test_path``).
    """

    def __init__(
        self,
        path: Optional[str] = None,
        test_path: Optional[str] = None,
        name: str = "arrays",
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
        super().__init__(
            val_fraction,
            test_fraction,
            batch_size,
            eval_batch_size,
            num_workers,
            standardize,
            seed,
            patch_length,
            max_rnn_steps,
        )
        self.train_file, self.test_file = npz_files(path, test_path)
        self.save_hyperparameters(logger=False)

    def load_splits(self) -> dict[str, SequenceSplit]:
        """The training archive's parts (all of it as train when it has no ``split``) and the test archive's."""
        parts = load_npz(self.train_file, f"dataset.path={self.train_file}")
        if "all" in parts:
            parts = {"train": parts.pop("all")}
        if "train" not in parts:
            raise ConfigError(
                f"dataset.path={self.train_file}: its 'split' array has no 'train' entries (only {sorted(parts)}); "
                "mark the training samples 'train'"
            )
        if self.test_file is None:
            return parts
        source = f"dataset.test_path={self.test_file}"
        if "test" in parts:
            raise ConfigError(
                f"{parts['test'].source}: its 'split' array marks test samples and dataset.test_path is set too; "
                "keep one: drop dataset.test_path, or the 'test' entries"
            )
        test_parts = load_npz(self.test_file, source)
        others = sorted(set(test_parts) - {"all", "test"})
        if others:
            raise ConfigError(
                f"{source}: its 'split' array marks {others} samples; every sample of a test file is a test one "
                "(drop its 'split' array)"
            )
        parts["test"] = test_parts["all"] if "all" in test_parts else test_parts["test"]
        return parts
