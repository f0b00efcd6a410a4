"""The MiniRocket reference: padding unequal lengths, and its accuracy on a real unequal-length dataset."""

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
