"""Data adapters and checks used by fit/evaluate/predict, and length bucketing."""

from kerasish.data.bucketing import BucketBatchSampler, pad_collate

__all__ = ["BucketBatchSampler", "pad_collate"]
