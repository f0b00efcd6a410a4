"""The MiniRocket reference: padding unequal lengths, and its accuracy on a real unequal-length dataset."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from har_vib.baselines.minirocket import minirocket_accuracy, pad_to_array
from har_vib.data.sequences import load_bundled


def test_pad_to_array_is_channels_first_and_zero_padded():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)  # (T=3, C=2)
    b = np.array([[np.nan, 1.0]], dtype=np.float32)
    out = pad_to_array([a, b], 4)
    assert out.shape == (2, 2, 4)
    assert np.array_equal(out[0], [[0, 2, 4, 0], [1, 3, 5, 0]])
    assert np.array_equal(out[1], [[0, 0, 0, 0], [1, 0, 0, 0]])  # NaN -> 0, the mean after standardisation
    with pytest.raises(ValueError, match="no sequences"):
        pad_to_array([], 4)


@pytest.mark.slow
def test_minirocket_on_real_unequal_length_sequences():
    train, test = load_bundled("JapaneseVowels", "train"), load_bundled("JapaneseVowels", "test")  # 7..29 steps
    result = minirocket_accuracy(train.sequences, train.labels, test.sequences, test.labels, seed=0)
    assert result.n_train == 270 and result.n_test == 370 and result.series_length == 29
    assert result.test_acc > 0.9  # published MiniRocket results on JapaneseVowels are ~0.99


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset=arrays", "dataset.path=no_such.npz"], "dataset.path=no_such.npz: no such file"),
        (["dataset=synthetic"], "MiniRocket takes sequence datasets"),
        (["dataset.no_such_key=1"], "Could not override 'dataset.no_such_key'"),
        (["dataset.val_fraction=0"], "dataset.val_fraction=0: "),
    ],
)
def test_the_reference_script_refuses_bad_input_in_one_line(tmp_path, overrides, message):
    """A missing file came out as Hydra's InstantiationException traceback, a video dataset as 'Could not override
    dataset.patch_length'."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "minirocket_reference.py"
    proc = subprocess.run(
        [sys.executable, str(script), f"--out={tmp_path / 'ref'}", *overrides],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line and "Traceback" not in proc.stderr
    assert not (tmp_path / "ref").exists()
