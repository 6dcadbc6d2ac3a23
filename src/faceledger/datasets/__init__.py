"""Readers for evaluation datasets (LFW, UTKFace-style folders, manifests) and an embedding cache.

The datasets are research-only and never shipped: paths come from arguments, the
FACELEDGER_DATA environment variable, or ``../shared/data`` beside the working tree.
"""

from faceledger.datasets.root import data_root, require_dataset

__all__ = ["data_root", "require_dataset"]
