"""Pruning: unstructured magnitude, structured channel removal, N:M, layer-adaptive rates.

Torch-facing modules are imported lazily so that `edgesdk.prune.formats` (numpy only)
stays cheap for the code generators.
"""
import importlib

_LAZY = {
    # masks.py: masks as parametrizations (with progressive gradient flow)
    "apply_mask": "masks", "remove_masks": "masks", "masks_of": "masks", "set_grad_decay": "masks",
    "prunable_layers": "masks", "sparsity_report": "masks",
    # magnitude.py
    "magnitude_prune": "magnitude", "check_ratio": "magnitude",
    # nm.py
    "nm_prune": "nm", "refresh_nm_masks": "nm",
    # structured.py
    "channel_prune": "structured", "dependency_groups": "structured",
    # adaptive.py
    "adaptive_prune": "adaptive", "allocate_rates": "adaptive", "uniform_prune": "adaptive",
    "recalibrate_bn": "adaptive",
    # lapp.py: rates from learnable per-group thresholds (task loss + MAC budget)
    "lapp_rates": "lapp", "lapp_prune": "lapp",
    # macs.py
    "count_macs": "macs", "count_params": "macs",
    # finetune.py
    "finetune": "finetune", "prune_and_finetune": "finetune", "evaluate": "finetune", "kd_loss": "finetune",
    # graph.py
    "prune_graph": "graph", "annotate_sparsity": "graph",
}

__all__ = sorted(_LAZY) + ["formats"]


def __getattr__(name):
    if name in _LAZY:
        mod = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
