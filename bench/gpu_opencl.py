"""OpenCL on PoCL (this machine's CPU): hand-written int8 kernels vs TVM-generated kernels,
and whole models vs onnxruntime on the same CPU, all in one run.

    .venv/bin/python bench/gpu_opencl.py

For each model (fmnist_cnn trained on Fashion-MNIST when bench/quant_fmnist_model.py has
cached it, else random weights; resnet8; ds_cnn; mobilenet_v1_025), quantized by
edgesdk PTQ, three plans are built for the `pocl` board:
  hand-vec    hand kernels where they apply (CPU-shaped ek_gemm_s8_ocl_vec, depthwise,
              im2col), TVM for the other layers: what `edgesdk build --target gpu` makes
  hand-tiled  the same with the GPU-shaped local-memory GEMM (ek_gemm_s8_ocl)
  tvm         every layer on TVM's dlight-scheduled kernels (untuned)
Per layer with a hand kernel: OpenCL profiling time (device time, best of R runs)
of the hand kernels vs TVM's for the same layer, and the ratio tvm / hand (> 1: hand wins).
Whole model: wall time per inference (best of R), the int8 GPU plans and the f32 TVM plan
vs onnxruntime (float ONNX model, 2 threads) on the same CPU. Every plan's output is
checked bit-exact against the integer reference before it is timed.
Results: bench/results/gpu_opencl.json.
"""
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "gpu_opencl.json"
REPEAT = 10          # OpenCL profiling: best of REPEAT per layer
REPEAT_WALL = 30     # whole-model wall time: best of REPEAT_WALL (the machine is shared: best-of filters it)
MODELS = [("fmnist_cnn", (1, 1, 28, 28)), ("resnet8", (1, 3, 32, 32)), ("ds_cnn", (1, 1, 49, 10)),
          ("mobilenet_v1_025", (1, 3, 96, 96))]


def _model(name, shape):
    import torch
    from edgesdk.zoo import models as Z
    torch.manual_seed(0)
    calib = np.random.default_rng(0).standard_normal((16,) + shape[1:]).astype(np.float32)
    trained = False
    if name == "fmnist_cnn" and (ROOT / "results" / "fmnist_cnn_state.pt").exists():
        sys.path.insert(0, str(ROOT))
        from quant_fmnist_model import trained_fmnist_cnn
        from edgesdk.data import load_fashion_mnist
        m = trained_fmnist_cnn().eval()
        calib = load_fashion_mnist("train", limit=64)[0]
        trained = True
    else:
        m = getattr(Z, name)().eval()
    return m, calib, trained


def _onnx_ort(model, shape):
    import onnxruntime as ort
    import torch
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.randn(*shape),), buf, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["output"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])


def _runner(graph, dtype, force_tvm, device_type, rt):
    from edgesdk.backends_gpu import lower
    from edgesdk.gpu.plan_runner import PlanRunner
    from edgesdk.paths import kernels_dir
    t = time.perf_counter()
    plan, src, consts = lower(graph, "opencl", dtype, force_tvm=force_tvm, device_type=device_type)
    progs = {"tvm": src} if src else {}
    for layer in plan["layers"]:
        for k in layer["launches"]:
            if k["program"] != "tvm":
                progs[k["program"]] = (kernels_dir() / "opencl" / k["program"]).read_text()
    r = PlanRunner(plan, progs, consts, rt=rt)
    return plan, r, time.perf_counter() - t


def _best_wall(fn, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_model(name, shape, rt):
    from edgesdk.frontends import load
    from edgesdk.passes import run_passes
    from edgesdk.quant import quantize
    from edgesdk.reference import run as reference_run
    import torch

    model, calib, trained = _model(name, shape)
    g = run_passes(load(model, example_inputs=(torch.randn(*shape),)))
    q = quantize(g, calib)
    plans = {}
    for label, force, dev in (("hand-vec", False, "cpu"), ("hand-tiled", False, "gpu"), ("tvm", True, "cpu")):
        plans[label] = _runner(q, "s8", force, dev, rt)
    fplan = _runner(g, "f32", True, "cpu", rt)

    x8 = np.random.default_rng(1).integers(-128, 128, shape).astype(np.int8)
    want = reference_run(q, {q.inputs[0]: x8})[q.outputs[0]]
    exact = {}
    for label, (plan, r, _) in plans.items():
        exact[label] = bool(np.array_equal(r.run({q.inputs[0]: x8})[q.outputs[0]], want))
    xf = calib[:1].astype(np.float32)
    f_err = float(np.abs(fplan[1].run({g.inputs[0]: xf})[g.outputs[0]] - reference_run(g, {g.inputs[0]: xf})[g.outputs[0]]).max())

    prof = {label: r.profile_layers(REPEAT) for label, (plan, r, _) in plans.items()}
    hplan = plans["hand-vec"][0]
    layers = []
    for i, layer in enumerate(hplan["layers"]):
        if layer["impl"].startswith("tvm"):
            continue
        h, ht, t = prof["hand-vec"][i], prof["hand-tiled"][i], prof["tvm"][i]
        layers.append({"layer": layer["name"], "op": layer["op"], "hand_kernel": layer["impl"],
                       "macs": layer["macs"], "hand_vec_us": round(h * 1e6, 2), "hand_tiled_us": round(ht * 1e6, 2),
                       "tvm_us": round(t * 1e6, 2), "ratio_tvm_over_hand": round(t / h, 3) if h > 0 else None})
    sum_h = sum(l["hand_vec_us"] for l in layers)
    sum_t = sum(l["tvm_us"] for l in layers)
    sum_ht = sum(l["hand_tiled_us"] for l in layers)

    sess = _onnx_ort(model, shape)
    whole = {label: _best_wall(r.run_layers, REPEAT_WALL) for label, (plan, r, _) in plans.items()}
    whole["tvm-f32"] = _best_wall(fplan[1].run_layers, REPEAT_WALL)
    whole["onnxruntime-f32"] = _best_wall(lambda: sess.run(None, {"input": xf}), REPEAT_WALL)
    # end to end with the input upload and output download, for the shipped (hand-vec) plan
    r = plans["hand-vec"][1]
    whole["hand-vec-with-io"] = _best_wall(lambda: r.run({q.inputs[0]: x8}), REPEAT_WALL)
    # device time of every layer (profiling), free of host-side launch overhead and noise
    device_total = {label: round(sum(p) * 1e6, 1) for label, p in prof.items()}
    device_total["tvm-f32"] = round(sum(fplan[1].profile_layers(REPEAT)) * 1e6, 1)
    res = {"model": name, "input": list(shape), "trained": trained, "layers_total": len(q.nodes),
           "hand_layers": len(layers), "macs": int(sum(l["macs"] for l in hplan["layers"])),
           "bit_exact": exact, "f32_tvm_max_abs_err": f_err,
           "hand_layers_device_us": {"hand-vec": round(sum_h, 1), "hand-tiled": round(sum_ht, 1), "tvm": round(sum_t, 1)},
           "hand_layers_ratio_tvm_over_hand": round(sum_t / sum_h, 3) if sum_h else None,
           "per_layer": layers,
           "whole_model_ms": {k: round(v * 1e3, 4) for k, v in whole.items()},
           "whole_model_device_us": device_total,
           "ratio_vs_onnxruntime": {k: round(v / whole["onnxruntime-f32"], 3) for k, v in whole.items()},
           "build_s": {k: round(v[2], 2) for k, v in plans.items()}}
    if trained:
        res["accuracy"] = _accuracy(g, q, plans["hand-vec"][1], model)
    return res


def _accuracy(g, q, runner, model, n=300):
    """Top-1 on Fashion-MNIST test images: the int8 GPU plan vs the float torch model."""
    import torch
    from edgesdk.data import load_fashion_mnist
    x, y = load_fashion_mnist("test", limit=n)
    qp = q.tensors[q.inputs[0]].quant
    scale, zp = float(np.asarray(qp.scale).reshape(-1)[0]), int(np.asarray(qp.zero_point).reshape(-1)[0])
    correct_gpu = 0
    for i in range(n):
        xi = np.clip(np.round(x[i:i + 1] / scale) + zp, -128, 127).astype(np.int8)
        correct_gpu += int(runner.run({q.inputs[0]: xi})[q.outputs[0]].argmax() == y[i])
    with torch.no_grad():
        correct_f = int((model(torch.from_numpy(x)).argmax(1).numpy() == y).sum())
    return {"samples": n, "float_torch": correct_f / n, "int8_gpu_pocl": correct_gpu / n}


def main():
    from edgesdk.gpu.opencl import Runtime, device_facts
    from edgesdk.util.atomic import write_text
    rt = Runtime(profiling=True)
    facts = device_facts(rt.device)
    results = []
    for name, shape in MODELS:
        t = time.time()
        results.append(bench_model(name, shape, rt))
        print(f"[{name}: {time.time() - t:.1f}s]", file=sys.stderr)

    print(f"device: {facts['name']} ({facts['platform']}, {facts['compute_units']} CUs, fp16={facts['fp16']})")
    print("\nPer layer with a hand kernel: device time in us (OpenCL profiling, best of %d)" % REPEAT)
    print(f"{'model':17s} {'layer':24s} {'kernel':17s} {'MACs':>9s} {'hand-vec':>9s} {'hand-tiled':>10s} {'tvm':>9s} {'tvm/hand':>8s}")
    for r in results:
        for l in r["per_layer"]:
            print(f"{r['model']:17s} {l['layer'][-24:]:24s} {l['hand_kernel']:17s} {l['macs']:9d} {l['hand_vec_us']:9.1f} "
                  f"{l['hand_tiled_us']:10.1f} {l['tvm_us']:9.1f} {l['ratio_tvm_over_hand']:8.2f}")
    print("\nModel summary: hand-kernel layers summed (device us); whole model device us (all layers, profiling);"
          " whole model wall ms (best of %d, onnxruntime: float model, same CPU)" % REPEAT_WALL)
    print(f"{'model':17s} {'exact':6s} {'hand us':>8s} {'tvm us':>8s} {'tvm/hand':>8s} {'dev hand':>9s} {'dev tvm':>9s} "
          f"{'hand-vec':>9s} {'tvm int8':>9s} {'tvm f32':>8s} {'ORT f32':>8s} {'hand/ORT':>8s}")
    for r in results:
        w = r["whole_model_ms"]
        print(f"{r['model']:17s} {str(all(r['bit_exact'].values())):6s} {r['hand_layers_device_us']['hand-vec']:8.1f} "
              f"{r['hand_layers_device_us']['tvm']:8.1f} {r['hand_layers_ratio_tvm_over_hand']:8.2f} "
              f"{r['whole_model_device_us']['hand-vec']:9.1f} {r['whole_model_device_us']['tvm']:9.1f} "
              f"{w['hand-vec']:9.3f} {w['tvm']:9.3f} {w['tvm-f32']:8.3f} {w['onnxruntime-f32']:8.3f} "
              f"{r['ratio_vs_onnxruntime']['hand-vec']:8.2f}")
        if "accuracy" in r:
            a = r["accuracy"]
            print(f"  {r['model']} top-1 on {a['samples']} Fashion-MNIST test images: float torch {a['float_torch']:.3f}, "
                  f"int8 on PoCL {a['int8_gpu_pocl']:.3f}")
    goal = all(r["hand_layers_ratio_tvm_over_hand"] > 1.0 for r in results)
    print(f"\ngoal (hand int8 kernels beat TVM's untuned kernels on the same device, summed per model): "
          f"{'met' if goal else 'NOT met'}")
    write_text(OUT, json.dumps({"device": facts, "repeat": REPEAT, "repeat_wall": REPEAT_WALL, "goal_hand_beats_tvm": goal,
                                "models": results}, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
