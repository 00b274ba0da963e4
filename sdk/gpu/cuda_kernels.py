"""The hand-written CUDA kernels (kernels/cuda): their files, launch shapes and static figures.

Nothing here needs a GPU: `static_report(arch)` compiles every file with nvcc to a
cubin and reports what ptxas says (registers, spills, shared memory) with the
theoretical occupancy at each kernel's block size.
"""
from pathlib import Path

from .nvcc import compile_cubin, cuda_dir, occupancy

# kernel -> (source file, threads per block, what it is)
HAND_KERNELS = {
    "ek_gemm_s8_cuda": ("ek_gemm_s8_cuda.cu", 256, "dp4a int8 GEMM, 64x64 tile, requant epilogue"),
    "ek_gemm_s8_cuda_ref": ("ek_gemm_s8_cuda.cu", 256, "its _ref twin"),
    "ek_im2col_s8_cuda": ("ek_gemm_s8_cuda.cu", 256, "im2col for the dp4a conv"),
    "ek_gemm_f16_cuda": ("ek_gemm_f16_cuda.cu", 128, "FP16 tensor-core GEMM (wmma 16x16x16)"),
    "ek_gemm_f16_cuda_ref": ("ek_gemm_f16_cuda.cu", 256, "its _ref twin"),
    "ek_dwconv_s8_cuda": ("ek_dwconv_s8_cuda.cu", 256, "depthwise int8 conv, 16x16 tile, window in shared memory"),
    "ek_dwconv_s8_cuda_ref": ("ek_dwconv_s8_cuda.cu", 256, "its _ref twin"),
    "ek_bgemm_b1_cuda": ("ek_bgemm_b1_cuda.cu", 256, "XNOR-popc binary GEMM"),
    "ek_bgemm_b1_cuda_ref": ("ek_bgemm_b1_cuda.cu", 256, "its _ref twin"),
    "ek_gemv_s8_cuda": ("ek_gemv_s8_cuda.cu", 256, "weight-only int8 GEMV, warp per row"),
    "ek_gemv_s8_cuda_ref": ("ek_gemv_s8_cuda.cu", 256, "its _ref twin"),
    "ek_gemv_s4_cuda": ("ek_gemv_s4_cuda.cu", 256, "weight-only int4 GEMV, warp per row"),
    "ek_gemv_s4_cuda_ref": ("ek_gemv_s4_cuda.cu", 256, "its _ref twin"),
}
ARCHS = ("sm_87", "sm_90")   # Jetson Orin, Hopper


def source_files():
    return sorted({f for f, _, _ in HAND_KERNELS.values()})


def static_report(arch, out_dir):
    """Compile every hand kernel file for `arch` into out_dir; one row per kernel."""
    rows = []
    for f in source_files():
        res = compile_cubin(cuda_dir() / f, arch, Path(out_dir) / f"{Path(f).stem}.{arch}.cubin")
        for name, info in sorted(res["kernels"].items()):
            _, threads, what = HAND_KERNELS.get(name, (f, 256, "?"))
            occ = occupancy(info["registers"], info["smem"], threads, arch)
            rows.append({"kernel": name, "file": f, "cubin": str(res["cubin"]), "threads_per_block": threads,
                         "what": what, **info, **occ})
    return rows
