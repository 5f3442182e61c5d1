"""Built-in recxbench methods: one module per method (or family), each registering itself.

Every module in this package is imported here, so adding a method means adding one file; the
registry (``bench.methods``) and the shared contract test suite pick it up automatically.
"""

import importlib
import pkgutil

__all__: list[str] = []

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")
