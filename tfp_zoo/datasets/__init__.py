"""Datasets: offline-first sources (shipped subset, local idx files, TFDS) and pipelines."""

from tfp_zoo.datasets import multi_mnist
from tfp_zoo.datasets.idx import read_idx, write_idx
from tfp_zoo.datasets.idx_builder import IdxImages
from tfp_zoo.datasets.pipeline import (BINARIZATIONS, binarize_fixed, eval_images,
                                       to_float, train_batches)
from tfp_zoo.datasets.sources import (DATASETS, SPLITS, DataSource, DatasetNotFoundError,
                                      check_dataset, data_digest, estimated_size,
                                      load_boxes, load_counts, load_images,
                                      needs_data_dir,
                                      register_source, shipped_dir, source)
from tfp_zoo.errors import DatasetError

__all__ = ["read_idx", "write_idx", "IdxImages", "BINARIZATIONS", "binarize_fixed",
           "eval_images", "to_float", "train_batches", "DATASETS", "SPLITS",
           "DatasetError", "DatasetNotFoundError", "check_dataset", "data_digest",
           "load_counts", "load_boxes", "load_images", "shipped_dir", "multi_mnist", "estimated_size",
           "DataSource", "source", "register_source", "needs_data_dir"]
