"""CUDA, static figures (no GPU needed): every hand kernel and every TVM-generated kernel of
real int8 models compiled by nvcc for Jetson Orin (sm_87) and Hopper (sm_90), with what
ptxas reports (registers, shared memory, spills) and the theoretical occupancy at the
block size each kernel is launched with.

    .venv/bin/python bench/gpu_cuda.py

Per model layer that a hand kernel runs: the hand kernel's figures next to TVM's kernel
for the same layer (edgesdk.backends_gpu.lower with and without force_tvm), plus the
layer's FLOPs, bytes and arithmetic intensity. Results: bench/results/gpu_cuda.json.
"""
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "gpu_cuda.json"
MODELS = [("fmnist_cnn", (1, 1, 28, 28)), ("resnet8", (1, 3, 32, 32)), ("mobilenet_v1_025", (1, 3, 96, 96))]
ARCHS = ("sm_87", "sm_90")


def _quantized(name, shape):
    import torch
    from edgesdk.frontends import load
    from edgesdk.passes import run_passes
    from edgesdk.quant import quantize
    from edgesdk.zoo import models as Z
    torch.manual_seed(0)
    m = getattr(Z, name)().eval()
    g = run_passes(load(m, example_inputs=(torch.randn(*shape),)))
    calib = np.random.default_rng(0).standard_normal((8,) + shape[1:]).astype(np.float32)
    return quantize(g, calib, bias_correction=False)


def _kernel_figures(source, arch, tmp, tag):
    from edgesdk.gpu.nvcc import compile_cubin
    src = Path(tmp) / f"{tag}.cu"
    src.write_text(source)
    return compile_cubin(src, arch, Path(tmp) / f"{tag}.{arch}.cubin")["kernels"]


def _layer_kernels(plan, figures, arch):
    from edgesdk.gpu.nvcc import occupancy
    out = {}
    for layer in plan["layers"]:
        rows = []
        for k in layer["launches"]:
            f = figures[k["kernel"]]
            threads = int(np.prod(k["block"]))
            occ = occupancy(f["registers"], f["smem"], threads, arch)
            rows.append({"kernel": k["kernel"], "grid": k["grid"], "block": k["block"], "registers": f["registers"],
                         "smem": f["smem"], "spill_bytes": f["spill_stores"] + f["spill_loads"],
                         "occupancy": occ["occupancy"], "limited_by": occ["limited_by"],
                         "blocks": int(np.prod(k["grid"]))})
        out[layer["name"]] = rows
    return out


def bench_model(name, shape, arch, tmp):
    from edgesdk.backends_gpu import lower
    from edgesdk.paths import kernels_dir
    q = _quantized(name, shape)
    hplan, hsrc, _ = lower(q, "cuda", "s8", arch=arch)
    tplan, tsrc, _ = lower(q, "cuda", "s8", force_tvm=True, arch=arch)
    tfig = _kernel_figures(tsrc, arch, tmp, f"{name}_tvm")
    hfig = {}
    if hsrc:
        hfig.update(_kernel_figures(hsrc, arch, tmp, f"{name}_hybrid_tvm"))
    hand_src = (kernels_dir() / "cuda" / "ek_gemm_s8_cuda.cu").read_text()
    hfig.update(_kernel_figures(hand_src, arch, tmp, "ek_gemm_s8_cuda"))
    hk = _layer_kernels(hplan, hfig, arch)
    tk = _layer_kernels(tplan, tfig, arch)
    layers = []
    for layer in hplan["layers"]:
        if layer["impl"].startswith("tvm"):
            continue
        layers.append({"layer": layer["name"], "op": layer["op"], "flops": layer["flops"], "bytes": layer["bytes"],
                       "intensity_flop_per_byte": round(layer["flops"] / max(layer["bytes"], 1), 2),
                       "hand": hk[layer["name"]], "tvm": tk[layer["name"]]})
    tvm_all = [r for rows in tk.values() for r in rows]
    return {"model": name, "arch": arch, "layers_total": len(q.nodes), "hand_layers": len(layers),
            "tvm_kernels": len(tfig), "tvm_max_registers": max(f["registers"] for f in tfig.values()),
            "tvm_spill_bytes": sum(f["spill_stores"] + f["spill_loads"] for f in tfig.values()),
            "tvm_mean_occupancy": round(float(np.mean([r["occupancy"] for r in tvm_all])), 3),
            "per_layer": layers}


def main():
    from edgesdk.gpu.cuda_kernels import static_report
    from edgesdk.gpu.nvcc import find_nvcc
    from edgesdk.util.atomic import write_text
    import subprocess
    nvcc = find_nvcc()
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    out = {"nvcc": version, "hand_kernels": {}, "models": []}
    with tempfile.TemporaryDirectory(prefix="ek_cuda_bench_") as tmp:
        for arch in ARCHS:
            out["hand_kernels"][arch] = static_report(arch, tmp)
        for name, shape in MODELS:
            for arch in ARCHS:
                t = time.time()
                out["models"].append(bench_model(name, shape, arch, tmp))
                print(f"[{name} {arch}: {time.time() - t:.1f}s]", file=sys.stderr)

    print(f"nvcc: {version}")
    print("\nHand kernels (ptxas -v; occupancy = resident warps / max warps per SM at the launch block size)")
    print(f"{'arch':6s} {'kernel':22s} {'threads':>7s} {'regs':>5s} {'smem B':>7s} {'spill B':>7s} {'occ':>6s}  limit")
    for arch, rows in out["hand_kernels"].items():
        for r in rows:
            print(f"{arch:6s} {r['kernel']:22s} {r['threads_per_block']:7d} {r['registers']:5d} {r['smem']:7d} "
                  f"{r['spill_stores'] + r['spill_loads']:7d} {r['occupancy']:6.3f}  {r['limited_by']}")
    print("\nModel layers run by a hand kernel: hand vs TVM kernels for the same layer (main kernel of each)")
    print(f"{'model':17s} {'arch':6s} {'layer':22s} {'FLOP/B':>7s} {'hand regs':>9s} {'occ':>6s} {'blocks':>6s} "
          f"{'tvm regs':>8s} {'occ':>6s} {'blocks':>6s} {'tvm launches':>12s}")
    for m in out["models"]:
        for l in m["per_layer"]:
            h = max(l["hand"], key=lambda r: r["registers"])
            t = max(l["tvm"], key=lambda r: r["registers"])
            print(f"{m['model']:17s} {m['arch']:6s} {l['layer'][-22:]:22s} {l['intensity_flop_per_byte']:7.1f} "
                  f"{h['registers']:9d} {h['occupancy']:6.3f} {h['blocks']:6d} {t['registers']:8d} {t['occupancy']:6.3f} "
                  f"{t['blocks']:6d} {len(l['tvm']):12d}")
    print("\nTVM kernels per model")
    for m in out["models"]:
        print(f"{m['model']:17s} {m['arch']:6s} kernels {m['tvm_kernels']:3d}  max regs {m['tvm_max_registers']:3d}  "
              f"spill B {m['tvm_spill_bytes']:5d}  mean occupancy {m['tvm_mean_occupancy']:.3f}")
    spills = sum(r["spill_stores"] + r["spill_loads"] for rows in out["hand_kernels"].values() for r in rows)
    out["hand_kernel_spill_bytes"] = spills
    print(f"\nhand kernels: {spills} spill bytes in total (goal: 0)")
    write_text(OUT, json.dumps(out, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
