"""recxbench harness: data, splits, method registry, metrics, evaluation, statistics and reports.

The harness knows nothing about any particular method; methods live in the ``methods`` package and in
external plugins registered through the ``recxbench.methods`` entry point group.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
