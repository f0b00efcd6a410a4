"""``dataset=ts``: a classification dataset that aeon ships (``dataset.name=BasicMotions``) or the user's own
UEA/UCR ``.ts`` / ``.arff`` files (``dataset.path=<file or folder>``)."""

from __future__ import annotations

from typing import Optional

from har_vib.data.sequence_files import SequenceSplit, load_ts_file, ts_files
from har_vib.data.sequences import check_bundled_name, load_bundled
from har_vib.datamodules.sequence_datamodule import SequenceDataModule


class TimeSeriesDataModule(SequenceDataModule):
    """Sequences from ``name`` (an aeon-bundled dataset: its TRAIN and TEST files) or from ``path``: a ``.ts`` or
    ``.arff`` file, or a folder holding one ``<Name>_TRAIN`` file. ``path`` = ``<Name>_TRAIN.ts`` finds
    ``<Name>_TEST.ts`` (or ``.arff``) next to it; ``test_path`` names the test file explicitly; a file without one
    gets a stratified ``test_fraction`` held out as test. Splits, labels and preprocessing:
    :class:`SequenceDataModule`.

    Raises:
        ConfigError: both or neither of ``name`` and ``path``; an unknown ``name``; a missing file or folder, a
            wrong extension (here); a file that is not a UEA/UCR classification file (in :meth:`setup`).
    """

    def __init__(
        self,
        name: Optional[str] = None,
        path: Optional[str] = None,
        test_path: Optional[str] = None,
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
        self.train_file, self.test_file = ts_files(name, path, test_path)
        if self.train_file is None:
            check_bundled_name(str(name))
        self.save_hyperparameters(logger=False)

    def load_splits(self) -> dict[str, SequenceSplit]:
        """The bundled dataset's TRAIN and TEST files, or the user's training file and its test file if any."""
        hp = self.hparams
        if self.train_file is None:
            return {"train": load_bundled(hp.name, "train"), "test": load_bundled(hp.name, "test")}
        parts = {"train": load_ts_file(self.train_file, f"dataset.path={self.train_file}")}
        if self.test_file is not None:
            key = "dataset.test_path" if hp.test_path else "the test file of dataset.path"
            parts["test"] = load_ts_file(self.test_file, f"{key}={self.test_file}")
        return parts
