"""Op definitions (attribute defaults + shape functions), one module per op family.

Every module in this package is imported on first use of the registry.
"""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")
