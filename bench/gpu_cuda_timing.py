"""CUDA hand kernels timed on a real NVIDIA GPU: every kernel in kernels/cuda/ and its _ref
twin, at the layer sizes of MobileNet-V1 0.25 (96x96) and ResNet-8 (32x32) as GEMMs
(N = H*W outputs, M = Cout, K = Cin*kh*kw), LLM-style GEMV sizes, the depthwise layers,
and one large 4096^3 GEMM to show what the tiled kernels reach.

    .venv/bin/python bench/gpu_cuda_timing.py [--out extra/path.json]

Per case: the output is checked once against the numpy oracle (bit-exact for the integer
kernels, on a sample of rows for the large shapes; tolerance for the half-precision ones),
then the kernel is launched warm-up + `iters` times back to back, captured in a CUDA graph
so Python's launch overhead is not timed, between two CUDA events (driver API via
edgesdk.gpu.cuda_launch.CudaDriver.time_launches). Reported: us per launch, achieved
TOPS / TFLOPS (useful work on the logical shape, 2 ops per MAC) or GB/s, and the speedup of
the optimized kernel over its _ref twin measured in the same run. GEMV weights are cycled
over copies totalling more than twice the L2 so each launch streams them from HBM; the small
GEMMs are L2-resident, as activations between layers of a real network are.
Results: bench/results/gpu_cuda_timing.json. Without a GPU (or nvcc) it prints one line
and exits 0.
"""
import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "gpu_cuda_timing.json"
TARGET_MS = 60.0          # timed work per case: enough events-resolution, little device time
SAMPLE_ROWS = 256         # rows of a large output checked against the oracle
REPEATS = 3               # timed replays per kernel and shape (median reported, min/max kept)

# (layer, N, M, K): 1x1 convs of MobileNet-V1 0.25 at 96x96, 3x3 convs of ResNet-8 (im2col)
GEMMS = [("mbv1_025.pw1 48x48 8->16", 2304, 16, 8), ("mbv1_025.pw3 24x24 32->32", 576, 32, 32),
         ("mbv1_025.pw5 12x12 64->64", 144, 64, 64), ("mbv1_025.pw7 6x6 128->128", 36, 128, 128),
         ("mbv1_025.pw13 3x3 256->256", 9, 256, 256), ("resnet8.conv1 32x32 3x3 3->16", 1024, 16, 27),
         ("resnet8.s1 32x32 3x3 16->16", 1024, 16, 144), ("resnet8.s2 16x16 3x3 32->32", 256, 32, 288),
         ("resnet8.s3 8x8 3x3 64->64", 64, 64, 576), ("large 4096^3", 4096, 4096, 4096)]
BGEMMS = [("binary conv 32x32 3x3 64->64", 1024, 64, 576), ("binary conv 16x16 3x3 128->128", 256, 128, 1152),
          ("large 4096^3 bits", 4096, 4096, 4096)]
GEMVS = [("llm 4096x4096 (q/k/v/o proj)", 4096, 4096), ("llm 11008x4096 (up proj)", 11008, 4096),
         ("llm 4096x11008 (down proj)", 4096, 11008)]
# (layer, N, C, H, W, k, stride, pad)
DWCONVS = [("mbv1_025.dw1 48x48 c8 s1", 1, 8, 48, 48, 3, 1, 1), ("mbv1_025.dw2 48x48 c16 s2", 1, 16, 48, 48, 3, 2, 1),
           ("mbv1_025.dw3 24x24 c32 s1", 1, 32, 24, 24, 3, 1, 1), ("mbv1_025.dw5 12x12 c64 s1", 1, 64, 12, 12, 3, 1, 1),
           ("mbv1_025.dw7 6x6 c128 s1", 1, 128, 6, 6, 3, 1, 1),
           ("mbv2.dw1 112x112 c32 s1 batch 32", 32, 32, 112, 112, 3, 1, 1)]


def _cdiv(a, b):
    return -(-a // b)


def _pad(n, m):
    return _cdiv(n, m) * m


def _requant(rng, m, k):
    """Per-channel (mult, shift) scaled to K so that outputs spread over int8 instead of clamping."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, m).astype(np.int32)
    centre = int(round(-7 - 0.5 * math.log2(max(k, 1))))
    shift = rng.integers(centre - 1, centre + 2, m).astype(np.int32)
    return mult, shift


def _rows(rng, n):
    return np.arange(n) if n <= SAMPLE_ROWS else np.sort(rng.choice(n, SAMPLE_ROWS, replace=False))


class Bench:
    def __init__(self, drv, cubins):
        self.drv, self.cubins, self.rows = drv, cubins, []

    def timed(self, src, name, grid, block, arg_sets):
        fn = self.drv.function(self.cubins[src], name)
        probe, _ = self.drv.time_launches(fn, grid, block, arg_sets, iters=3, warmup=1, graph=False)
        iters = int(min(2000, max(10, TARGET_MS / max(probe, 1e-4))))
        # REPEATS independent event-timed graph replays; the median is reported, the spread
        # says how much of a small speedup is noise
        runs = [self.drv.time_launches(fn, grid, block, arg_sets, iters=iters, warmup=5) for _ in range(REPEATS)]
        self.last_spread = [round(min(r[0] for r in runs) * 1e3, 3), round(max(r[0] for r in runs) * 1e3, 3)]
        return float(np.median([r[0] for r in runs])) * 1e3, iters, runs[0][1]

    def add(self, family, layer, shape, kernel, us, iters, method, check, work):
        row = dict(family=family, layer=layer, shape=shape, kernel=kernel, time_us=round(us, 3), iters=iters,
                   time_us_min_max=self.last_spread, repeats=REPEATS, timing=method, check=check,
                   **{k: round(v / (us * 1e-6) / 1e12, 4) if k in ("tops", "tflops")
                      else round(v / (us * 1e-6) / 1e9, 2) for k, v in work.items()})
        self.rows.append(row)
        metric = ", ".join(f"{row[k]} {k.upper().replace('GBPS', 'GB/s')}" for k in work)
        print(f"  {family:7s} {layer:34s} {kernel:24s} {us:10.2f} us  {metric:28s} {check}", flush=True)
        return row

    def pair(self, family, src, opt, layer, shape, variants, args, read, check, work):
        """Run the optimized kernel `opt` and its _ref twin with the same args: check once
        (`check(read())` on the freshly written output), time, record, then the speedup.
        variants: [(kernel name, grid, block)] with the optimized kernel first."""
        res = {}
        for name, grid, block in variants:
            self.drv.launch(self.drv.function(self.cubins[src], name), grid, block, args)
            got = read()
            chk = _check(lambda: check(got))
            us, it, meth = self.timed(src, name, grid, block, [args])
            res[name] = self.add(family, layer, shape, name, us, it, meth, chk, work)
        self.speedup(res, opt)

    @staticmethod
    def speedup(res, opt):
        """The optimized kernel's speedup over its _ref twin, both timed in this run."""
        r = res[opt]["speedup_vs_ref"] = round(res[opt + "_ref"]["time_us"] / res[opt]["time_us"], 2)
        print(f"  {'':7s} {'':34s} {'speedup vs _ref':24s} {r:10.2f} x", flush=True)


def _check(fn):
    try:
        fn()
        return "ok"
    except AssertionError as e:
        return "FAILED: " + " ".join(str(e).split())[:200]


def bench_gemm_s8(b, rng):
    from edgesdk.gpu.ocl_kernels import fold_bias
    from edgesdk.reference.quantized import qgemm
    d = b.drv
    for layer, N, M, K in GEMMS:
        Kp = _pad(K, 4)
        x = np.zeros((N, Kp), np.int8)
        w = np.zeros((M, Kp), np.int8)
        x[:, :K] = rng.integers(-128, 128, (N, K), dtype=np.int8)
        w[:, :K] = rng.integers(-127, 128, (M, K), dtype=np.int8)
        bias = rng.integers(-20000, 20000, M).astype(np.int32)
        mult, shift = _requant(rng, M, K)
        x_zp, y_zp = 3, -5
        ptr = [d.upload(a) for a in (x, w, fold_bias(w, bias, x_zp), mult, shift)]
        y = d.alloc(N * M)
        args = [("ptr", p) for p in ptr] + [("ptr", y)] + [("i32", v) for v in (N, M, Kp, M, 1, y_zp, -128, 127)]
        idx = _rows(rng, N)
        want = qgemm(x[idx, :K], w[:, :K], bias, x_zp, y_zp, mult, shift, -128, 127)
        b.pair("gemm_s8", "ek_gemm_s8_cuda.cu", "ek_gemm_s8_cuda", layer, [N, M, K],
               [(n, (_cdiv(M, t), _cdiv(N, t)), (16, 16)) for n, t in (("ek_gemm_s8_cuda", 64),
                                                                      ("ek_gemm_s8_cuda_ref", 16))],
               args, lambda: d.download(y, (N, M), np.int8)[idx],
               lambda got: np.testing.assert_array_equal(got, want), {"tops": 2.0 * N * M * K})
        for p in ptr + [y]:
            d.free(p)


def bench_gemm_f16(b, rng):
    d = b.drv
    for layer, N, M, K in GEMMS:
        Np, Mp, Kp = _pad(N, 16), _pad(M, 16), _pad(K, 16)
        x = np.zeros((Np, Kp), np.float16)
        w = np.zeros((Mp, Kp), np.float16)
        x[:N, :K] = rng.standard_normal((N, K)) / math.sqrt(K)
        w[:M, :K] = rng.standard_normal((M, K))
        bias = np.zeros(Mp, np.float16)
        bias[:M] = rng.standard_normal(M)
        px, pw, pb, py = d.upload(x), d.upload(w), d.upload(bias), d.alloc(2 * Np * Mp)
        args = [("ptr", px), ("ptr", pw), ("ptr", pb), ("ptr", py), ("i32", Np), ("i32", Mp), ("i32", Kp), ("i32", 1)]
        idx = _rows(rng, N)
        want = np.maximum(x[idx].astype(np.float32) @ w.astype(np.float32).T + bias.astype(np.float32), 0)[:, :M]
        b.pair("gemm_f16", "ek_gemm_f16_cuda.cu", "ek_gemm_f16_cuda", layer, [N, M, K],
               [("ek_gemm_f16_cuda", (_cdiv(Mp, 32), _cdiv(Np, 32)), (128,)),
                ("ek_gemm_f16_cuda_ref", (_cdiv(Mp, 16), _cdiv(Np, 16)), (16, 16))],
               args, lambda: d.download(py, (Np, Mp), np.float16).astype(np.float32)[idx][:, :M],
               lambda got: np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2),
               {"tflops": 2.0 * N * M * K})
        for p in (px, pw, pb, py):
            d.free(p)


def bench_bgemm(b, rng):
    from edgesdk.reference.binary import pack_bits
    d = b.drv
    for layer, N, M, K in BGEMMS:
        xb, wb = rng.integers(0, 2, (N, K)), rng.integers(0, 2, (M, K))
        xp, wp = pack_bits(xb), pack_bits(wb)
        px, pw, py = d.upload(xp), d.upload(wp), d.alloc(4 * N * M)
        args = [("ptr", px), ("ptr", pw), ("ptr", py), ("i32", N), ("i32", M), ("i32", xp.shape[1]), ("i32", K)]
        idx = _rows(rng, N)
        # independent oracle: bits as +-1, an ordinary (exact in float64) dot product
        want = np.rint((2.0 * xb[idx] - 1) @ (2.0 * wb - 1).T).astype(np.int32)
        b.pair("bgemm_b1", "ek_bgemm_b1_cuda.cu", "ek_bgemm_b1_cuda", layer, [N, M, K],
               [(n, (_cdiv(M, t), _cdiv(N, t)), (16, 16)) for n, t in (("ek_bgemm_b1_cuda", 64),
                                                                      ("ek_bgemm_b1_cuda_ref", 16))],
               args, lambda: d.download(py, (N, M), np.int32)[idx],
               lambda got: np.testing.assert_array_equal(got, want), {"tops": 2.0 * N * M * K})
        for p in (px, pw, py):
            d.free(p)


def bench_gemv(b, rng, l2_bytes):
    from edgesdk.lower.mcu import pack_s4
    d = b.drv
    for bits in (8, 4):
        src = f"ek_gemv_s{bits}_cuda.cu"
        for layer, M, K in GEMVS:
            x = rng.standard_normal(K).astype(np.float16)
            lo, hi = (-128, 128) if bits == 8 else (-8, 8)
            wq = rng.integers(lo, hi, (M, K)).astype(np.int8)
            scale = (rng.random(M) * 0.05 + 0.01).astype(np.float32)
            bias = rng.standard_normal(M).astype(np.float32)
            want = (x.astype(np.float32) @ wq.astype(np.float32).T) * scale + bias
            packed = pack_s4(wq) if bits == 4 else wq   # two nibbles per byte, low nibble = even k
            copies = max(1, _cdiv(2 * l2_bytes, packed.nbytes) + 1)
            px, ps, pb, py = d.upload(x), d.upload(scale), d.upload(bias), d.alloc(2 * M)
            pws = [d.upload(packed) for _ in range(copies)]
            sets = [[("ptr", px), ("ptr", pw), ("ptr", ps), ("ptr", pb), ("ptr", py), ("i32", M), ("i32", K)]
                    for pw in pws]
            traffic = packed.nbytes + x.nbytes + scale.nbytes + bias.nbytes + 2 * M
            res = {}
            for name, grid in ((f"ek_gemv_s{bits}_cuda", (_cdiv(M, 8),)), (f"ek_gemv_s{bits}_cuda_ref", (_cdiv(M, 256),))):
                fn = d.function(b.cubins[src], name)
                d.launch(fn, grid, (256,), sets[0])
                got = d.download(py, (M,), np.float16).astype(np.float32)
                chk = _check(lambda: np.testing.assert_allclose(got, want, rtol=1e-2, atol=5e-2))
                us, it, meth = b.timed(src, name, grid, (256,), sets)
                res[name] = b.add(f"gemv_s{bits}", layer, [M, K], name, us, it, meth, chk, {"gbps": traffic})
                res[name]["weight_copies_cycled"] = copies
            b.speedup(res, f"ek_gemv_s{bits}_cuda")
            for p in [px, ps, pb, py] + pws:
                d.free(p)


def bench_dwconv(b, rng):
    from edgesdk.reference.quantized import qconv2d
    d = b.drv
    for layer, N, C, H, W, k, s, p in DWCONVS:
        x = rng.integers(-128, 128, (N, C, H, W), dtype=np.int8)
        w = rng.integers(-128, 128, (C, 1, k, k), dtype=np.int8)
        bias = rng.integers(-5000, 5000, C).astype(np.int32)
        mult, shift = _requant(rng, C, k * k)
        x_zp, y_zp, lo, hi = 7, -4, -128, 127
        OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
        nchk = min(N, 2)   # the oracle on the first images (the kernel treats each alike)
        want = qconv2d(x[:nchk], w, bias, x_zp, y_zp, mult, shift, [s, s], [p] * 4, [1, 1], C, lo, hi)
        ptrs = [d.upload(a) for a in (x, w, bias, mult, shift)]
        py = d.alloc(N * C * OH * OW)
        args = ([("ptr", v) for v in ptrs] + [("ptr", py)] +
                [("i32", v) for v in (C, H, W, C, k, k, s, s, p, p, 1, 1, OH, OW, x_zp, y_zp, lo, hi)])
        grid = (_cdiv(OW, 16), _cdiv(OH, 16), N * C)
        macs = N * C * OH * OW * k * k
        res = {}
        for name in ("ek_dwconv_s8_cuda", "ek_dwconv_s8_cuda_ref"):
            fn = d.function(b.cubins["ek_dwconv_s8_cuda.cu"], name)
            d.launch(fn, grid, (16, 16), args)
            got = d.download(py, (N, C, OH, OW), np.int8)[:nchk]
            chk = _check(lambda: np.testing.assert_array_equal(got, want))
            us, it, meth = b.timed("ek_dwconv_s8_cuda.cu", name, grid, (16, 16), [args])
            res[name] = b.add("dwconv_s8", layer, [N, C, H, W, k, s], name, us, it, meth, chk,
                              {"tops": 2.0 * macs, "gbps": x.nbytes + N * C * OH * OW + w.nbytes})
        b.speedup(res, "ek_dwconv_s8_cuda")
        for q in ptrs + [py]:
            d.free(q)


def torch_context():
    """cuBLAS through torch at 4096^3 (if the machine's Python has CUDA torch): a yardstick only."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
    except Exception:
        return None
    out = {"torch": torch.__version__}
    n = 4096

    def t(f, iters=20):
        for _ in range(3):
            f()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(iters):
            f()
        e.record()
        torch.cuda.synchronize()
        return s.elapsed_time(e) / iters * 1e3
    a = torch.randn(n, n, device="cuda", dtype=torch.float16)
    bm = torch.randn(n, n, device="cuda", dtype=torch.float16)
    us = t(lambda: a @ bm.T)
    out["cublas_f16_4096_us"], out["cublas_f16_4096_tflops"] = round(us, 2), round(2 * n ** 3 / us / 1e6, 1)
    try:
        ai = torch.randint(-128, 127, (n, n), device="cuda", dtype=torch.int8)
        bi = torch.randint(-128, 127, (n, n), device="cuda", dtype=torch.int8)
        us = t(lambda: torch._int_mm(ai, bi.T))
        out["cublas_int8_imma_4096_us"], out["cublas_int8_imma_4096_tops"] = round(us, 2), round(2 * n ** 3 / us / 1e6, 1)
    except Exception as e:
        out["cublas_int8_error"] = str(e).splitlines()[0][:120]
    return out


def goals(rows):
    """Per family: is the optimized kernel faster than its _ref at every shape, and bit-exact/close?"""
    g = {}
    for fam in sorted({r["family"] for r in rows}):
        opt = [r for r in rows if r["family"] == fam and "speedup_vs_ref" in r]
        sp = [r["speedup_vs_ref"] for r in opt]
        g[f"{fam}_faster_than_ref_at_every_shape"] = {
            "met": all(s > 1.0 for s in sp), "speedups": sp, "min": min(sp), "max": max(sp),
            "slower_at": [r["layer"] for r in opt if r["speedup_vs_ref"] <= 1.0]}
    g["all_outputs_match_oracle"] = {"met": all(r["check"] == "ok" for r in rows),
                                     "failed": [f"{r['kernel']} {r['layer']}" for r in rows if r["check"] != "ok"]}
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="also write the JSON here (e.g. $OUT on the device machine)")
    opts = ap.parse_args()
    from edgesdk.errors import EdgeError
    try:
        from edgesdk.gpu.cuda_kernels import source_files
        from edgesdk.gpu.cuda_launch import CudaDriver
        from edgesdk.gpu.nvcc import compile_cubin, cuda_dir, find_nvcc
        find_nvcc()
        drv = CudaDriver()
    except EdgeError as e:
        print(f"gpu_cuda_timing: skipped, {e} (this bench needs an NVIDIA GPU and nvcc)")
        return 0
    info = drv.device_info()
    print(f"{info['name']} {info['arch']} driver {info['driver_version']}, {info['sm_count']} SMs, "
          f"L2 {info['l2_bytes'] >> 20} MiB, clock {info['clock_khz'] // 1000} MHz", flush=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cubins = {f: compile_cubin(cuda_dir() / f, drv.arch, Path(tmp) / f"{f}.cubin")["cubin"] for f in source_files()}
        b = Bench(drv, cubins)
        rng = np.random.default_rng(0)
        print(f"  {'family':7s} {'layer':34s} {'kernel':24s} {'time':>13s}  metric", flush=True)
        bench_gemm_s8(b, rng)
        bench_gemm_f16(b, rng)
        bench_bgemm(b, rng)
        bench_gemv(b, rng, info["l2_bytes"])
        bench_dwconv(b, rng)
    ctx = torch_context()
    if ctx:
        print("yardstick (torch/cuBLAS, 4096^3):", ctx)
    result = {"device": info, "method": {
        "timing": "CUDA events (cuEventRecord/cuEventElapsedTime) around `iters` launches replayed from one "
                  "CUDA graph, after 5 warm-up launches; time_us = elapsed / iters, median of `repeats` such "
                  "replays (time_us_min_max: the spread)",
        "work": "tops/tflops = 2*N*M*K (useful MACs on the logical shape, padding not counted) / time; "
                "gbps = bytes the kernel must move (weights+x+scale+bias+y, or x+y+w for dwconv) / time",
        "cache": "gemv weights cycled over copies totalling > 2x L2 (HBM-bound); other cases L2-warm",
        "check": "once per kernel and shape before timing, against numpy (edgesdk.reference: qgemm, qconv2d; "
                 "+-1 float64 dot product for bgemm; float32 matmul for f16/gemv), on <= 256 sampled rows"},
        "rows": b.rows, "goals": goals(b.rows), "yardstick": ctx, "elapsed_s": round(time.time() - t0, 1)}
    from edgesdk.util.atomic import atomic_path
    for dest in [OUT] + ([Path(opts.out)] if opts.out else []):
        with atomic_path(dest) as tmp:
            tmp.write_text(json.dumps(result, indent=1))
    print(f"wrote {OUT}" + (f" and {opts.out}" if opts.out else ""))
    for k, v in result["goals"].items():
        print(f"  goal {k}: {'MET' if v['met'] else 'NOT MET'} {({kk: vv for kk, vv in v.items() if kk != 'met'})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
