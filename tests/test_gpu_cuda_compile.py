"""CUDA hand kernels: nvcc to cubin for Jetson Orin (sm_87) and Hopper (sm_90), ptxas
resource usage parsed and checked (no register spills), occupancy arithmetic."""
import shutil

import pytest

from edgesdk.gpu.nvcc import occupancy, parse_ptxas

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="not installed: nvcc")

PTXAS_SAMPLE = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'k_a' for 'sm_87'
ptxas info    : Function properties for k_a
    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 4608 bytes smem, 432 bytes cmem[0]
ptxas info    : Compiling entry function 'k_b' for 'sm_87'
ptxas info    : Function properties for k_b
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 20 registers, used 0 barriers, 372 bytes cmem[0]
"""


def test_parse_ptxas_reads_every_field():
    got = parse_ptxas(PTXAS_SAMPLE)
    assert got["k_a"] == {"arch": "sm_87", "registers": 255, "spill_stores": 12, "spill_loads": 16,
                          "stack": 8, "smem": 4608, "cmem": 432, "barriers": 1}
    assert got["k_b"]["registers"] == 20 and got["k_b"]["smem"] == 0 and got["k_b"]["spill_stores"] == 0


def test_occupancy_hand_derived():
    # 63 regs -> 64/thread -> 2048/warp; 8 warps/block -> 16384 regs/block -> 4 blocks of 65536
    occ = occupancy(63, 4608, 256, "sm_87")
    assert occ == {"blocks_per_sm": 4, "warps_per_sm": 32, "occupancy": round(32 / 48, 3), "limited_by": "registers"}
    # 32 regs, 128 threads: 16 blocks limit on sm_87 -> 64 warps > 48 -> warps limit 12 blocks
    assert occupancy(32, 0, 128, "sm_87")["blocks_per_sm"] == 12
    # shared memory bound: 60 KB + 1 KB reserved per block on 228 KB -> 3 blocks on sm_90
    occ = occupancy(16, 60 * 1024, 64, "sm_90")
    assert occ["blocks_per_sm"] == 3 and occ["limited_by"] == "shared_memory"


@pytest.mark.parametrize("arch", ["sm_87", "sm_90"])
def test_hand_kernels_compile_without_spills(arch, tmp_path):
    from edgesdk.gpu.cuda_kernels import HAND_KERNELS, static_report
    rows = static_report(arch, tmp_path)
    names = {r["kernel"] for r in rows}
    assert set(HAND_KERNELS) <= names, f"missing kernels: {set(HAND_KERNELS) - names}"
    for r in rows:
        assert r["arch"] == arch
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, f"{r['kernel']} spills on {arch}"
        assert 0 < r["registers"] <= 255
        assert r["blocks_per_sm"] >= 1
        assert (tmp_path / f"{r['file'][:-3]}.{arch}.cubin").stat().st_size > 1000
    tiled = {r["kernel"]: r for r in rows}
    assert tiled["ek_gemm_s8_cuda"]["smem"] == 2 * 64 * 9 * 4   # two 64x(8+1) int tiles
    assert tiled["ek_gemm_s8_cuda"]["barriers"] >= 1
