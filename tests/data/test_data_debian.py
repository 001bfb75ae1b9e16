"""The real Fashion-MNIST files from the Debian package, when installed on this machine."""

import numpy as np
import pytest

from prunelab.data import debian
from prunelab.data.splits import STANDARD_COUNTS

pytestmark = pytest.mark.skipif(not debian.FOLDER.is_dir(), reason=f"{debian.FOLDER} not installed")


def test_debian_fashion_mnist_has_the_official_shape():
    splits = debian.read_debian_fashion(STANDARD_COUNTS)
    assert splits.counts == (60000, 10000)
    assert splits.train_images.shape == (60000, 28, 28) and splits.test_images.shape == (10000, 28, 28)
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images per class.
    assert np.bincount(splits.train_labels).tolist() == [6000] * 10
    assert np.bincount(splits.test_labels).tolist() == [1000] * 10
    assert splits.train_labels[0] == 9  # the first training image is an ankle boot


def test_debian_fashion_mnist_is_the_published_one():
    from prunelab.data.published import mismatch

    assert mismatch("fashion-mnist", debian.read_debian_fashion(STANDARD_COUNTS)) is None
