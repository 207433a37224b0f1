"""Differential conformance suite for batch norm, dropout and centering layers."""

__version__ = "0.1.0"
