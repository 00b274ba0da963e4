"""C code generation for float (FP32/FP16) models on RISC-V (edgesdk.backends_riscv)."""
