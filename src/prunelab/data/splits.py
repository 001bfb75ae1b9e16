"""The dataset as four arrays, validated once so that training code can trust them."""

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from prunelab.errors import PrunelabError

# Official sizes of MNIST and Fashion-MNIST: (train, test).
STANDARD_COUNTS = (60000, 10000)
IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True)
class Splits:
    """Train and test images (N, 28, 28) uint8 with labels (N,) uint8 in 0..9.

    Pixels stay as bytes 0..255; scaling and normalising belong to the training code. A user's
    dataset (``data.npz``) has ``image_shape`` None: any (N, ...) uint8 or float32, ``classes`` labels.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    image_shape: tuple | None = IMAGE_SHAPE
    classes: int = 10

    def __post_init__(self):
        _check_part("train", self.train_images, self.train_labels, self.image_shape, self.classes)
        _check_part("test", self.test_images, self.test_labels, self.image_shape, self.classes)

    @property
    def counts(self) -> tuple[int, int]:
        return len(self.train_labels), len(self.test_labels)

    def sha256(self) -> str:
        """A checksum of the content (the four arrays, in order): equal data, equal checksum,
        wherever it was read from."""
        digest = hashlib.sha256()
        for array in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def with_validation(self, n_val: int | None = None) -> "Splits":
        """Hold out the last ``n_val`` training images (default: the last sixth) as the "test" part.

        Hyper-parameters are then chosen on data the model did not train on, without ever
        looking at the real test set. The split is fixed (no shuffling), so every run holds
        out the same images; for MNIST the default reproduces the classic 50,000/10,000 split,
        and a user's dataset of any size is split in the same proportion.
        """
        n_train = len(self.train_labels)
        n_val = n_train // 6 if n_val is None else n_val
        if not 0 < n_val < n_train:
            raise PrunelabError(f"validation size {n_val} must be between 1 and {n_train - 1}")
        cut = n_train - n_val
        return replace(
            self,
            train_images=self.train_images[:cut],
            train_labels=self.train_labels[:cut],
            test_images=self.train_images[cut:],
            test_labels=self.train_labels[cut:],
        )

    def check_counts(self, counts: tuple[int, int], source: str) -> None:
        """Refuse a dataset with the wrong number of images (a partial download, a subset)."""
        if self.counts != tuple(counts):
            raise PrunelabError(f"{source} holds {self.counts[0]}/{self.counts[1]} train/test images; "
                                f"expected {counts[0]}/{counts[1]}")


def _check_part(part: str, images, labels, image_shape=IMAGE_SHAPE, classes: int = 10) -> None:
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise PrunelabError(f"{part} images and labels must be numpy arrays")
    user_floats = image_shape is None and images.dtype == np.float32
    if (images.dtype != np.uint8 and not user_floats) or labels.dtype != np.uint8:
        raise PrunelabError(f"{part} images and labels must be uint8, got {images.dtype} and {labels.dtype}")
    if image_shape is None:
        if images.ndim not in (2, 3, 4):
            raise PrunelabError(f"{part} images have shape {images.shape}; expected (N, H, W), (N, C, H, W) or (N, F)")
    elif images.ndim != 3 or images.shape[1:] != image_shape:
        raise PrunelabError(f"{part} images have shape {images.shape}; expected (N, 28, 28)")
    if labels.shape != (len(images),):
        raise PrunelabError(f"{part} labels have shape {labels.shape}; expected ({len(images)},)")
    if labels.size and labels.max() >= classes:
        raise PrunelabError(f"{part} labels include {labels.max()}; labels must be 0..{classes - 1}")
