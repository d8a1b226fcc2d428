"""Datasets for the course: where they live, and batches that keep the accelerator busy.

Small datasets (Fashion-MNIST, MNIST, CIFAR-10) are checked against their published MD5 sums, loaded once
into tensors on the training device and shuffled there each epoch, so training never waits for DataLoader
workers (``batches``, ``datasets``, ``store``). Folders of photos use a ``DataLoader`` (``folders``).
"""

from .batches import Splits, TensorBatches, check_batch_size, validation_count
from .datasets import CIFAR10_CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES, cifar10, fashion_mnist, mnist
from .folders import HYMENOPTERA_URL, hymenoptera_dir, image_folder, load_image
from .store import DATA_ENV, MD5, data_dir

__all__ = ["CIFAR10_CLASSES", "DATA_ENV", "FASHION_MNIST_CLASSES", "HYMENOPTERA_URL", "MD5", "MNIST_CLASSES",
           "Splits", "TensorBatches", "check_batch_size", "cifar10", "data_dir", "fashion_mnist", "hymenoptera_dir",
           "image_folder", "load_image", "mnist", "validation_count"]
