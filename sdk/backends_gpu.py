"""The GPU backend: an IR graph -> a build folder of OpenCL or CUDA kernels and a launch plan.

build(graph, board, out_dir, gpu_api="opencl"|"cuda", dtype="f32"|"f16"|"s8") -> dict

Per layer, a hand-written kernel runs it when one fits (int8 conv/GEMM/depthwise, FP16
GEMM where the device has half), otherwise TVM's dlight-scheduled kernel
(edgesdk.codegen.tvm_gpu). The folder (docs/build-format.md) holds:
  manifest.json, model.edg, summary.txt,
  plan.json       layers in order: impl, launches (program, kernel, args, sizes), MACs, FLOPs, bytes
  kernels.cl / kernels.cu   the TVM-generated source
  hand/           the hand kernel sources used (and the shared header)
  consts.npz      every constant buffer (weights, folded biases, requant constants)
  cubin/          (cuda) cubins for the board's arch with ptxas figures in plan.json
An OpenCL build for a `device: host` board (pocl) runs with edgesdk.gpu.plan_runner.
"""
import json
import tempfile
from pathlib import Path

import numpy as np

from .errors import DeviceError, EdgeError, UnsupportedOpsError

APIS = ("opencl", "cuda")
DTYPES = ("f32", "f16", "s8")
_NP = {"s8": "int8", "s32": "int32", "f32": "float32", "f16": "float16", "u8": "uint8", "b1": "uint8"}


class BuildSummary(dict):
    """The summary dict; printing it gives the summary table (what the CLI shows)."""

    def __str__(self):
        return format_summary(self).rstrip("\n")


def _board_facts(board):
    apis = list(board.extra.get("api", []) or [])
    return apis, bool(board.extra.get("fp16", False)), board.extra.get("device", "remote"), \
        board.extra.get("arch", "sm_87")


def _is_quantized(graph):
    """An int8 graph; a binarized float model (XNOR layers, float around them) builds as f32."""
    from .quant.ptq import is_binarized_float, is_quantized
    return is_quantized(graph) and not is_binarized_float(graph)


def check_request(graph, board, gpu_api, dtype):
    """Every refusal, before any work: one clear line naming the board, field or node."""
    if board.target != "gpu":
        raise EdgeError(f"board {board.name} ({board.path}) is a {board.target} board, not a gpu board")
    apis, fp16, where, _arch = _board_facts(board)
    if gpu_api not in APIS:
        raise EdgeError(f"gpu_api {gpu_api!r}: choose one of {', '.join(APIS)}")
    if gpu_api not in apis:
        raise EdgeError(f"board {board.name}: field 'api' is {apis}; it has no {gpu_api} (pick another board)")
    if dtype not in DTYPES:
        raise EdgeError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if gpu_api == "cuda":
        from .gpu.nvcc import find_nvcc
        find_nvcc()   # ToolMissingError: "nvcc not found ..."
    if gpu_api == "opencl" and where == "host":
        from .gpu.opencl import device, has_fp16
        dev = device()   # DeviceError: "no OpenCL platform present ..."
        if dtype == "f16" and not has_fp16(dev):
            raise DeviceError(f"FP16 requested but the OpenCL device '{dev.name.strip()}' of board {board.name} "
                              f"has no cl_khr_fp16 (use --dtype f32 or s8)")
    if dtype == "f16" and not fp16:
        raise DeviceError(f"FP16 requested but board {board.name} has no FP16 support "
                          f"(field 'fp16' is false in {board.path})")
    quantized = _is_quantized(graph)
    if dtype == "s8" and not quantized:
        raise EdgeError(f"dtype s8 needs a quantized graph; {graph.name} is float (quantize it first, "
                        f"e.g. edgesdk.quant.quantize(graph, calib))")
    if dtype in ("f32", "f16") and quantized:
        raise EdgeError(f"dtype {dtype} needs a float graph; {graph.name} is quantized (use dtype s8)")


def _to_f16(graph):
    """A copy of a float graph computing in half: f32 tensors (and their constants) become f16."""
    g = graph.copy()
    for t in g.tensors.values():
        if t.dtype == "f32":
            t.dtype = "f16"
            if t.data is not None:
                t.data = np.asarray(t.data, np.float16)
    return g


def _macs(graph, node):
    from .ir.opdefs.conv import conv_geometry  # noqa: F401  (geometry is in the output shape)
    out = graph.tensors[node.outputs[0]]
    if node.op in ("Conv", "QConv", "BConv"):
        w = graph.tensors[node.inputs[1]]
        return int(np.prod(out.shape)) * int(np.prod(w.shape[1:]))
    if node.op in ("Gemm", "QGemm", "MatMul", "BGemm"):
        k = graph.tensors[node.inputs[0]].shape[-1]
        return int(np.prod(out.shape)) * int(k)
    return 0


def _bytes(graph, node):
    total = 0
    for name in list(node.inputs) + list(node.outputs):
        if name:
            total += graph.tensors[name].nbytes
    return int(total)


def _gpu_paths(graph, api, dtype, fp16):
    """node name -> hand kernel name or "tvm"; raises listing every node with no GPU path."""
    from .codegen.tvm_gpu import supported_ops
    from .gpu.hand_lower import hand_kernel_for
    tvm_ops = set(supported_ops())
    paths, missing = {}, []
    for n in graph.nodes:
        hk = hand_kernel_for(graph, n, api, dtype, fp16)
        if hk:
            paths[n.name] = hk
        elif n.op in tvm_ops:
            paths[n.name] = "tvm"
        else:
            missing.append((n.name, n.op))
    if missing:
        raise UnsupportedOpsError(missing, source=f"{graph.name} for the GPU (no hand kernel and no TVM lowering)")
    return paths


def lower(graph, api, dtype, fp16=False, force_tvm=False, arch="sm_87", device_type="gpu"):
    """-> (plan dict without file names, tvm source, consts). force_tvm: every layer on TVM."""
    from .codegen.tvm_gpu import lower_graph
    from .gpu.hand_lower import lower_hand
    from .gpu.plan_runner import tvm_launches

    paths = _gpu_paths(graph, api, dtype, fp16)
    if force_tvm:
        paths = {k: "tvm" for k in paths}
    tvm_nodes = [n for n in graph.nodes if paths[n.name] == "tvm"]
    tplan = lower_graph(graph, api, tvm_nodes, arch=arch) if tvm_nodes else None
    tlayers = {l["node"]: l for l in tplan.to_json()["layers"]} if tplan else {}
    buffers = dict(tplan.buffers) if tplan else {}
    consts = dict(tplan.consts) if tplan else {}
    layers = []
    for n in graph.nodes:
        for name in list(n.inputs) + list(n.outputs):
            if name and not graph.tensors[name].is_const:
                t = graph.tensors[name]
                buffers.setdefault(name, {"shape": [int(s) for s in t.shape], "dtype": _NP.get(t.dtype, t.dtype)})
        if paths[n.name] == "tvm":
            tl = tlayers[n.name]
            launches = tvm_launches(tl, api)
            impl = "tvm:" + "+".join(s["func"] for s in tl["steps"])
        else:
            h = lower_hand(graph, n, paths[n.name], api, device_type)
            launches = h["launches"]
            consts.update(h["consts"])
            for cname, arr in h["consts"].items():
                buffers[cname] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
            buffers.update(h["buffers"])
            impl = launches[-1]["kernel"]   # the main kernel (after im2col), the variant really used
        macs = _macs(graph, n)
        layers.append({"name": n.name, "op": n.op, "impl": impl, "inputs": [i for i in n.inputs if i],
                       "outputs": list(n.outputs), "launches": launches, "macs": macs, "flops": 2 * macs,
                       "bytes": _bytes(graph, n)})
    plan = {"format": 1, "api": api, "dtype": dtype, "inputs": list(graph.inputs), "outputs": list(graph.outputs),
            "buffers": buffers, "layers": layers}
    return plan, (tplan.source if tplan else ""), consts


def _hand_programs(plan, api):
    from .paths import kernels_dir
    sub = "opencl" if api == "opencl" else "cuda"
    files = sorted({k["program"] for l in plan["layers"] for k in l["launches"] if k["program"] != "tvm"})
    header = "ek_ocl_common.h" if api == "opencl" else "ek_cuda_common.cuh"
    return {f: kernels_dir() / sub / f for f in files}, kernels_dir() / sub / header


def _io_json(graph, names):
    out = []
    for n in names:
        t = graph.tensors[n]
        q = None
        if t.quant is not None:
            q = {"scale": np.atleast_1d(t.quant.scale).tolist(), "zero_point": np.atleast_1d(t.quant.zero_point).tolist()}
        out.append({"name": n, "shape": [int(s) for s in t.shape], "dtype": t.dtype, "layout": "NCHW" if len(t.shape) == 4 else "",
                    "quant": q})
    return out


def build(graph, board, out_dir, gpu_api=None, dtype=None, calib=None, check=True):
    """Build `graph` for a gpu `board` into `out_dir`; returns the summary dict.

    gpu_api defaults to the board's first api; dtype to s8 for a quantized graph, else f32.
    calib (optional) quantizes a float graph (edgesdk.quant.quantize) unless dtype is f32/f16. check: for a host OpenCL
    board, run the build once on the device and compare with the reference interpreter.
    """
    from .boards import load_board
    from .ir import save
    from .pipeline import model_hash, write_build

    board = load_board(board) if isinstance(board, (str, Path)) else board
    apis, fp16, where, arch = _board_facts(board)
    gpu_api = gpu_api or (apis[0] if apis else "opencl")
    if dtype in (None, "s8") and calib is not None and not _is_quantized(graph):   # calib means: make it int8
        from .quant import quantize
        graph = quantize(graph, calib)
    dtype = dtype or ("s8" if _is_quantized(graph) else "f32")
    check_request(graph, board, gpu_api, dtype)
    run_graph = _to_f16(graph) if dtype == "f16" else graph

    plan, tvm_source, consts = lower(run_graph, gpu_api, dtype, fp16=fp16, arch=arch,
                                     device_type=board.extra.get("device_type", "gpu"))
    files = {}
    hand, header = _hand_programs(plan, gpu_api)
    ext = "cl" if gpu_api == "opencl" else "cu"
    programs = {}
    if tvm_source:
        files[f"kernels.{ext}"] = tvm_source
        programs["tvm"] = f"kernels.{ext}"
    for name, path in hand.items():
        files[f"hand/{name}"] = path.read_text()
        programs[name] = f"hand/{name}"
    if hand:
        files[f"hand/{header.name}"] = header.read_text()
    plan["programs"] = programs
    plan["consts"] = "consts.npz"
    plan["board"] = board.name

    ptxas = {}
    with tempfile.TemporaryDirectory(prefix="ek_gpu_") as tmp:
        tmp = Path(tmp)
        if gpu_api == "cuda":
            ptxas = _compile_cuda(files, programs, arch, tmp, plan)
            for rel in list(ptxas.get("cubins", [])):
                files[rel] = tmp / rel
        save(graph, tmp / "model.edg")
        files["model.edg"] = (tmp / "model.edg").read_bytes()
        mhash = model_hash(tmp / "model.edg")
        import io
        buf = io.BytesIO()
        np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in consts.items()})
        files["consts.npz"] = buf.getvalue()
        files["plan.json"] = json.dumps(plan, indent=1)

        summary = _summary(run_graph, board, plan, gpu_api, dtype, ptxas)
        if check and gpu_api == "opencl" and where == "host":
            summary["check"] = _self_check(graph, plan, files, consts)
        build_id = f"{mhash:08x}-gpu-{board.name}-{gpu_api}-{dtype}"
        summary["build_id"] = build_id
        files["summary.txt"] = format_summary(summary)
        manifest = {
            "format": 1, "target": "gpu", "board": board.name, "board_file": str(board.path),
            "build_id": build_id, "model_hash": mhash, "image": "plan.json",
            "gpu_api": gpu_api, "dtype": dtype,
            # in the dtype the device computes in (f16 builds take and give half)
            "inputs": _io_json(run_graph, graph.inputs), "outputs": _io_json(run_graph, graph.outputs),
            "layers": [{"name": l["name"], "op": l["op"], "impl": l["impl"], "macs": l["macs"],
                        "flops": l["flops"], "bytes": l["bytes"], "launches": len(l["launches"])}
                       for l in plan["layers"]],
            "summary": {"flash_bytes": 0, "ram_bytes": summary["buffer_bytes"], "arena_bytes": 0,
                        "arena_lower_bound": 0, "weight_bytes": summary["const_bytes"], "macs": summary["macs"],
                        "instructions": None},
            "train": None,
        }
        write_build(out_dir, files, manifest)
    return summary


def _compile_cuda(files, programs, arch, tmp, plan):
    """nvcc every program (TVM's and the hand ones) to a cubin; ptxas figures go into the plan."""
    from .gpu.nvcc import compile_cubin
    from .paths import kernels_dir
    src_dir = tmp / "cu"
    src_dir.mkdir()
    for rel, text in files.items():
        if rel.endswith((".cu", ".cuh")):
            (src_dir / Path(rel).name).write_text(text)
    kernels, cubins = {}, []
    for prog, rel in programs.items():
        name = Path(rel).name
        out_rel = f"cubin/{Path(name).stem}.{arch}.cubin"
        (tmp / "cubin").mkdir(exist_ok=True)
        res = compile_cubin(src_dir / name, arch, tmp / out_rel, options=[f"-I{kernels_dir() / 'cuda'}"])
        kernels.update(res["kernels"])
        cubins.append(out_rel)
    plan["cubins"] = {p: f"cubin/{Path(Path(r).name).stem}.{arch}.cubin" for p, r in programs.items()}
    plan["ptxas"] = kernels
    return {"cubins": cubins, "kernels": kernels}


def _self_check(graph, plan, files, consts):
    """Run the build once on the host OpenCL device and compare with the reference."""
    from .gpu.plan_runner import PlanRunner
    from .reference import run as reference_run
    sources = {p: files[rel] for p, rel in plan["programs"].items()}
    runner = PlanRunner(plan, sources, consts)
    rng = np.random.default_rng(0)
    feeds = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        if t.dtype == "s8":
            feeds[name] = rng.integers(-128, 128, t.shape, dtype=np.int8)
        else:
            feeds[name] = rng.standard_normal(t.shape).astype(_NP[t.dtype])
    got = runner.run(feeds)
    want = reference_run(graph, feeds)
    worst = 0.0
    exact = True   # integer outputs: bit-exact; float outputs: None (compared by error)
    for o in graph.outputs:
        g, w = np.asarray(got[o]), np.asarray(want[o])
        if g.dtype.kind in "iu":
            exact = exact and bool(np.array_equal(g, w)) if exact is not None else None
            worst = max(worst, float(np.abs(g.astype(np.int64) - w.astype(np.int64)).max(initial=0)))
        else:
            exact = None
            worst = max(worst, float(np.abs(g.astype(np.float64) - w.astype(np.float64)).max(initial=0)))
    return {"max_abs_err": worst, "bit_exact": exact}


def _summary(graph, board, plan, api, dtype, ptxas):
    const_bytes = 0
    buffer_bytes = 0
    for name, b in plan["buffers"].items():
        nb = int(np.prod(b["shape"], dtype=np.int64)) * np.dtype(b["dtype"]).itemsize
        buffer_bytes += nb
    hand = sum(1 for l in plan["layers"] if not l["impl"].startswith("tvm"))
    s = BuildSummary({"board": board.name, "api": api, "dtype": dtype, "layers": len(plan["layers"]),
         "hand_layers": hand, "tvm_layers": len(plan["layers"]) - hand,
         "launches": sum(len(l["launches"]) for l in plan["layers"]),
         "macs": sum(l["macs"] for l in plan["layers"]), "flops": sum(l["flops"] for l in plan["layers"]),
         "bytes": sum(l["bytes"] for l in plan["layers"]), "buffer_bytes": buffer_bytes,
         "per_layer": [{k: l[k] for k in ("name", "op", "impl", "macs", "flops", "bytes")} |
                       {"launch": _launch_str(l["launches"])} for l in plan["layers"]]})
    for g in graph.tensors.values():
        if g.is_const:
            const_bytes += g.nbytes
    s["const_bytes"] = const_bytes
    if ptxas:
        s["ptxas"] = ptxas["kernels"]
        s["max_registers"] = max((k["registers"] for k in ptxas["kernels"].values()), default=0)
        s["spills"] = sum(k["spill_stores"] + k["spill_loads"] for k in ptxas["kernels"].values())
    return s


def _launch_str(launches):
    parts = []
    for k in launches:
        if "global" in k:
            parts.append(f"{k['kernel']}[{'x'.join(map(str, k['global']))}/{'x'.join(map(str, k['local'])) if k.get('local') else '-'}]")
        else:
            parts.append(f"{k['kernel']}<<<{'x'.join(map(str, k['grid']))},{'x'.join(map(str, k['block']))}>>>")
    return "; ".join(parts)


def format_summary(s):
    lines = [f"gpu build for {s['board']} ({s['api']}, {s['dtype']}): {s['layers']} layers "
             f"({s['hand_layers']} hand, {s['tvm_layers']} TVM), {s['launches']} launches, "
             f"{s['macs']} MACs, {s['const_bytes']} B constants"]
    lines.append(f"{'layer':28s} {'op':14s} {'impl':40s} {'MACs':>10s} {'bytes':>9s}")
    for l in s["per_layer"]:
        impl = l["impl"] if len(l["impl"]) <= 40 else l["impl"][:37] + "..."
        lines.append(f"{l['name'][:28]:28s} {l['op']:14s} {impl:40s} {l['macs']:>10d} {l['bytes']:>9d}")
    if "check" in s:
        c = s["check"]
        lines.append(f"self-check on the host OpenCL device: bit_exact={c['bit_exact']} max_abs_err={c['max_abs_err']:.3g}")
    if "spills" in s:
        lines.append(f"ptxas: max {s['max_registers']} registers/thread, {s['spills']} spill bytes")
    return "\n".join(lines) + "\n"
