"""Quantization: fixed-point requantization, PTQ, low-bit calibration, mixed precision, QAT."""
