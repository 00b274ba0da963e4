"""Emitters: turn a lowered Graph into C (hand kernels + TVM-generated code).

This package is the only place that imports TVM.
"""
