"""The NumPy float64 oracle: one implementation of each op, conventions as parameters."""

from conformance.oracle import batchnorm, dropout, ghost, renorm

__all__ = ["batchnorm", "dropout", "ghost", "renorm"]
