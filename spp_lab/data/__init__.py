"""Data: the embedded ``shapes`` set, image folders, CIFAR-10 and Caltech101."""

from spp_lab.data.module import SizeBatchSampler, SPPDataModule

__all__ = ["SPPDataModule", "SizeBatchSampler"]
