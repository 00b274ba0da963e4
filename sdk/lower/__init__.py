"""Lowering: from a target-independent graph to what codegen emits (kernel choice,
layouts, the static memory plan). Each module has one role; import from it directly."""
from .memory_plan import MemoryPlan, Lifetime, plan_memory, compute_lifetimes, DEFAULT_INPLACE_OPS

__all__ = ["MemoryPlan", "Lifetime", "plan_memory", "compute_lifetimes", "DEFAULT_INPLACE_OPS"]
