"""Synthetic multi-task data for the MTL tests (defined once, in :mod:`bench.contract`)."""

from bench.contract import synthetic_mtl

__all__ = ["synthetic_mtl"]
