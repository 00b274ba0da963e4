"""The RISC-V backend: a float IR graph -> C calling the FP32/FP16 RVV kernels -> an image.

    summary = build(graph, "qemu-rv32-virt", "build/rv", dtype="f16", vlen=128)

Per node, a hand kernel of kernels/ek_*_<dtype>_rvv.c (conv2d, pointwise, depthwise,
linear, max/avg/global pooling, relu/relu6/hard-swish, add, flatten/reshape as aliases);
Sigmoid/Tanh/Softmax have no hand kernel and go to TVM (Relax -> LLVM object, called
through tvm-ffi from model.c); any other op is refused up front, every such node named. Activations live
in one static arena (edgesdk.lower.memory_plan, kernel scratch included).

The build is checked before it is written: the same model.c, compiled for rv64 Linux user
mode, runs under qemu-riscv64 at the requested VLEN on a self-test input, and every
layer's output is compared with edgesdk.reference.run (intermediates); the first layer
beyond tolerance is named. On a bare-metal board the firmware then runs under
`qemu-system-riscv32 -icount shift=0` for per-layer instruction counts (minstret).

The folder follows docs/build-format.md: manifest.json, model.edg, src/ (model.c, the
runners, kernels and headers, Makefile), summary.txt and two programs:
- the image (manifest "image"): model.c linked with the host-in-the-loop server
  (runtime/hil), what `edgesdk run/validate` (edgesdk.hil.open_device) talk to:
  `firmware.elf` on bare metal (ek_hil_port_riscv.c: 16550 UART, minstret), `rig` on
  qemu-rv64-linux (ek_hil_port_host.c: a process on a pty under qemu-riscv64);
- the self-test (manifest "selftest_image"): `selftest.elf` on bare metal (prints outputs
  and per-layer counts on the UART), `app` on Linux (`app IN.f32 OUT.f32 [LAYERS.f32]`).
"""
import json
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError, DeviceError, EdgeError, UnsupportedOpsError

DTYPES = ("f32", "f16")
ESIZE = {"f32": 4, "f16": 2}
TOL = {"f32": 1e-4, "f16": 3e-2}    # max|dev - ref| / max|ref|, per layer
ALIAS_OPS = ("Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Dropout")
ACT = {None: "EK_ACT_NONE", "": "EK_ACT_NONE", "relu": "EK_ACT_RELU", "relu6": "EK_ACT_RELU6"}


class BuildSummary(dict):
    def __str__(self):
        return format_summary(self).rstrip("\n")


# ---- lowering: node -> kernel call -------------------------------------------------------

class _Lowering:
    def __init__(self, graph, dtype):
        self.g, self.dtype = graph, dtype
        self.consts = {}       # C name -> array
        self.layers = []       # dicts: name, op, impl, macs, out, call (list of C with {OFF:tensor})
        self.problems = []     # (node, op + reason)
        self.tvm = []          # layers compiled by TVM: name, op, attrs, shape

    def const(self, tensor_name, arr):
        cname = "w_" + "".join(c if c.isalnum() else "_" for c in tensor_name)
        while cname in self.consts and self.consts[cname] is not arr:
            cname += "_"
        self.consts[cname] = np.asarray(arr, np.float32)
        return cname

    def shape(self, name):
        return tuple(self.g.tensors[name].shape)

    def data(self, name):
        t = self.g.tensors.get(name) if name else None
        return None if t is None else t.data

    def refuse(self, node, why):
        self.problems.append((node.name, f"{node.op}: {why}"))

    def add(self, node, impl, call, macs=0, scratch=0):
        self.layers.append({"name": node.name, "op": node.op, "impl": impl, "call": call, "macs": int(macs),
                            "out": node.outputs[0], "scratch": int(scratch), "inputs": list(node.inputs)})


def _act(node, lw):
    a = node.attrs.get("activation")
    if isinstance(a, bytes):
        a = a.decode()
    if a not in ACT:
        lw.refuse(node, f"fused activation {a!r} has no RVV kernel (relu/relu6 only)")
        return None
    return ACT[a]


def _lower_conv(node, lw, sfx):
    x, wname = node.inputs[0], node.inputs[1]
    w = lw.data(wname)
    if w is None:
        return lw.refuse(node, "weight is not a constant")
    n, cin, h, wd = lw.shape(x)
    cout, cpg, kh, kw = w.shape
    group = int(node.attrs.get("group", 1))
    if any(d != 1 for d in (node.attrs.get("dilations") or [1, 1])):
        return lw.refuse(node, "dilated convolution has no RVV kernel")
    from .ir.opdefs.conv import conv_geometry
    strides, pads, _ = conv_geometry(node, (n, cin, h, wd), w.shape)
    pt, pl, pb, pr = pads[0], pads[1], pads[2], pads[3]
    sh, sw = strides
    ho, wo = lw.shape(node.outputs[0])[2:]
    act = _act(node, lw)
    if act is None:
        return
    depthwise = group == cin and cpg == 1 and cout == cin
    if group != 1 and not depthwise:
        return lw.refuse(node, f"grouped convolution (group={group}) has no RVV kernel")
    bname = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    b = lw.data(bname) if bname else None
    wc = lw.const(wname, w)
    bc = lw.const(bname, b) if b is not None else "0"
    es = ESIZE[lw.dtype]
    macs = cout * ho * wo * cpg * kh * kw
    params = f"{{{cin}, {h}, {wd}, {cout}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, {pb}, {pr}, {ho}, {wo}, {act}, 0}}"
    if depthwise:
        scratch = (h + pt + pb + ho) * (wd + pl + pr) * es
        call = [f"static const ek_conv_params_t p = {params};",
                f"K(dwconv2d)(A({{OFF:{x}}}), {wc}, {bc}, A({{OFF:{node.outputs[0]}}}), A({{SCRATCH}}), &p);"]
        return lw.add(node, f"ek_dwconv2d_{sfx}", call, macs, scratch)
    if kh == kw == 1 and sh == sw == 1 and not any(pads):
        call = [f"K(pwconv2d)(A({{OFF:{x}}}), {wc}, {bc}, A({{OFF:{node.outputs[0]}}}), {cin}, {cout}, {h * wd}, {act}, 0);"]
        return lw.add(node, f"ek_pwconv2d_{sfx}", call, macs)
    band_rows = min(ho, max(1, 256 // wo))     # ek_conv_band_rows (EK_CONV_BAND_PIXELS = 256)
    scratch = cin * kh * kw * band_rows * wo * es
    call = [f"static const ek_conv_params_t p = {params};",
            f"K(conv2d)(A({{OFF:{x}}}), {wc}, {bc}, A({{OFF:{node.outputs[0]}}}), A({{SCRATCH}}), &p);"]
    lw.add(node, f"ek_conv2d_{sfx}", call, macs, scratch)


def _lower_gemm(node, lw, sfx):
    x, wname = node.inputs[0], node.inputs[1]
    w = lw.data(wname)
    if w is None or w.ndim != 2:
        return lw.refuse(node, "weight is not a constant matrix")
    if node.op == "Gemm":
        if node.attrs.get("transA", 0) or float(node.attrs.get("alpha", 1.0)) != 1.0 or \
                float(node.attrs.get("beta", 1.0)) != 1.0:
            return lw.refuse(node, "only transA=0, alpha=beta=1 has an RVV kernel")
        wt = w if node.attrs.get("transB", 0) else w.T      # -> [out][in]
    else:
        wt = w.T
    xs = lw.shape(x)
    if len(xs) != 2:
        return lw.refuse(node, f"input of rank {len(xs)} (flatten it first)")
    batch, n_in = xs
    n_out = wt.shape[0]
    act = _act(node, lw)
    if act is None:
        return
    bname = node.inputs[2] if node.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2] else None
    b = lw.data(bname) if bname else None
    if bname and (b is None or b.size != n_out):
        return lw.refuse(node, "bias is not a constant vector of the output size")
    wc = lw.const(wname + "_oi", np.ascontiguousarray(wt))
    bc = lw.const(bname, b.reshape(-1)) if b is not None else "0"
    call = [f"K(linear)(A({{OFF:{x}}}), {wc}, {bc}, A({{OFF:{node.outputs[0]}}}), {batch}, {n_in}, {n_out}, {act}, 0);"]
    lw.add(node, f"ek_linear_{sfx}", call, batch * n_in * n_out)


def _lower_pool(node, lw, sfx):
    x = node.inputs[0]
    n, c, h, w = lw.shape(x)
    if node.op == "GlobalAveragePool":
        kh, kw, sh, sw, kind = h, w, h, w, "avgpool2d"
    else:
        if any(node.attrs.get("pads") or [0]) or node.attrs.get("ceil_mode", 0) or \
                any(d != 1 for d in (node.attrs.get("dilations") or [1, 1])):
            return lw.refuse(node, "padded, ceil-mode or dilated pooling has no RVV kernel")
        kh, kw = node.attrs["kernel_shape"]
        sh, sw = node.attrs.get("strides") or [1, 1]
        kind = "maxpool2d" if node.op == "MaxPool" else "avgpool2d"
    ho, wo = lw.shape(node.outputs[0])[2:]
    call = [f"static const ek_pool_params_t p = {{{c}, {h}, {w}, {kh}, {kw}, {sh}, {sw}, {ho}, {wo}}};",
            f"K({kind})(A({{OFF:{x}}}), A({{OFF:{node.outputs[0]}}}), &p);"]
    lw.add(node, f"ek_{kind}_{sfx}", call, c * ho * wo * kh * kw)


def _numel(shape):
    return int(np.prod(shape)) if len(shape) else 1


def _lower_eltwise(node, lw, sfx):
    out = node.outputs[0]
    n = _numel(lw.shape(out))
    if node.op == "Add":
        a, b = node.inputs[:2]
        if lw.shape(a) != lw.shape(b) or lw.data(a) is not None or lw.data(b) is not None:
            return lw.refuse(node, "only same-shape activation + activation has an RVV kernel")
        act = _act(node, lw)
        if act is None:
            return
        call = [f"K(add)(A({{OFF:{a}}}), A({{OFF:{b}}}), A({{OFF:{out}}}), {n});"]
        if act == "EK_ACT_RELU":
            call.append(f"K(relu)(A({{OFF:{out}}}), A({{OFF:{out}}}), {n});")
        elif act == "EK_ACT_RELU6":
            call.append(f"K(relu6)(A({{OFF:{out}}}), A({{OFF:{out}}}), {n});")
        return lw.add(node, f"ek_add_{sfx}", call, n)
    fn = {"Relu": "relu", "HardSwish": "hardswish"}.get(node.op)
    if node.op == "Clip":
        lo = lw.data(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else node.attrs.get("min")
        hi = lw.data(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else node.attrs.get("max")
        if lo is None or hi is None or float(np.asarray(lo)) != 0.0 or float(np.asarray(hi)) != 6.0:
            return lw.refuse(node, "only Clip(0, 6) (relu6) has an RVV kernel")
        fn = "relu6"
    call = [f"K({fn})(A({{OFF:{node.inputs[0]}}}), A({{OFF:{out}}}), {n});"]
    lw.add(node, f"ek_{fn}_{sfx}", call, n)


def _lower_alias(node, lw, sfx):
    src, out = node.inputs[0], node.outputs[0]
    n = _numel(lw.shape(out))
    # the memory plan puts an alias in its input's slot; copy only if it could not
    call = [f"T *s_ = A({{OFF:{src}}}), *d_ = A({{OFF:{out}}});",
            f"if (s_ != d_) for (uint32_t i_ = 0; i_ < {n}u; i_++) d_[i_] = s_[i_];"]
    lw.add(node, "alias", call, 0)


def _lower_tvm(node, lw, sfx):
    """No hand kernel: TVM compiles this op (an LLVM object linked into the image)."""
    x, out = node.inputs[0], node.outputs[0]
    if lw.shape(x) != lw.shape(out):
        return lw.refuse(node, "TVM path covers shape-preserving ops only")
    name = f"ek_tvm_{len(lw.tvm)}"
    lw.tvm.append({"name": name, "op": node.op, "attrs": dict(node.attrs), "shape": list(lw.shape(x))})
    call = [f"if (ek_tvm_call((ek_tvm_fn)__tvm_ffi_{name}, A({{OFF:{x}}}), A({{OFF:{out}}}), shape_{name}, "
            f"{len(lw.shape(x))})) return 1;"]
    lw.add(node, f"tvm:{name}", call, _numel(lw.shape(out)))


LOWER = {"Conv": _lower_conv, "Gemm": _lower_gemm, "MatMul": _lower_gemm, "MaxPool": _lower_pool,
         "AveragePool": _lower_pool, "GlobalAveragePool": _lower_pool, "Add": _lower_eltwise,
         "Relu": _lower_eltwise, "Clip": _lower_eltwise, "HardSwish": _lower_eltwise}
for _op in ALIAS_OPS:
    LOWER[_op] = _lower_alias


def _tvm_ops():
    """Ops TVM can take over when no hand kernel exists ({} without TVM installed)."""
    import importlib.util
    if importlib.util.find_spec("tvm") is None:
        return {}
    from .codegen.tvm_riscv import TVM_OPS
    return TVM_OPS


def check_graph(graph, dtype):
    """Every refusal before any work: non-float graph, batch > 1, unsupported ops (all named)."""
    if dtype not in DTYPES:
        raise EdgeError(f"dtype {dtype!r}: the riscv target computes in f32 or f16")
    for name in graph.inputs:
        t = graph.tensors[name]
        if t.dtype not in ("f32", "float32"):
            raise EdgeError(f"graph input {name!r} is {t.dtype}: the riscv target builds float graphs "
                            f"(quantized graphs go to --target mcu)")
        if len(t.shape) != 4 or t.shape[0] != 1:
            raise EdgeError(f"graph input {name!r} has shape {list(t.shape)}: the riscv target takes one "
                            f"NCHW image (batch 1)")
    tvm_ops = _tvm_ops()
    missing = [(n.name, n.op) for n in graph.nodes if n.op not in LOWER and n.op not in tvm_ops]
    if missing:
        raise UnsupportedOpsError(missing, source=f"riscv {dtype} build (no {dtype.upper()} RVV kernel and no "
                                  f"TVM path for these ops)")


def lower(graph, dtype):
    check_graph(graph, dtype)
    lw = _Lowering(graph, dtype)
    sfx = f"{dtype}_rvv"
    for node in graph.nodes:
        LOWER.get(node.op, _lower_tvm)(node, lw, sfx)
    if lw.problems:
        raise UnsupportedOpsError(lw.problems, source=f"riscv {dtype} build")
    return lw


# ---- build --------------------------------------------------------------------------------

def _plan(graph, lw):
    from .lower.memory_plan import DEFAULT_INPLACE_OPS, plan_memory
    es = ESIZE[lw.dtype]
    scratch = {l_["name"]: l_["scratch"] for l_ in lw.layers}
    # conv/linear/pool outputs must never overlap their inputs: only element-wise ops and
    # aliases may reuse a dying input's slot
    inplace = tuple(op for op in DEFAULT_INPLACE_OPS if op in ("Relu", "Clip", "HardSwish", "Add") + ALIAS_OPS)
    return plan_memory(graph, size_of=lambda t: _numel(t.shape) * es, align=64, inplace_ops=inplace,
                       scratch_of=lambda node: scratch.get(node.name, 0))


def _model_dict(graph, lw, plan, build_id, model_hash):
    es = ESIZE[lw.dtype]
    layers = []
    for l_ in lw.layers:
        stmts = []
        for s in l_["call"]:
            for t in set(l_["inputs"] + [l_["out"]]):
                if t and t in plan.offsets:
                    s = s.replace(f"{{OFF:{t}}}", str(plan.offsets[t]))
            s = s.replace("{SCRATCH}", str(plan.scratch_offsets.get(l_["name"], 0)))
            stmts.append(s)
        layers.append({"name": l_["name"], "op": l_["op"], "call": stmts, "out_off": plan.offsets[l_["out"]],
                       "out_elems": _numel(graph.tensors[l_["out"]].shape)})
    weight_bytes = sum(a.size * es for a in lw.consts.values())
    return {"dtype": lw.dtype, "build_id": build_id, "model_hash": model_hash, "arena_bytes": plan.arena_bytes,
            "tvm": lw.tvm,
            "weight_bytes": weight_bytes, "consts": lw.consts, "layers": layers,
            "inputs": [{"off": plan.offsets[n], "elems": _numel(graph.tensors[n].shape)} for n in graph.inputs],
            "outputs": [{"off": plan.offsets[n], "elems": _numel(graph.tensors[n].shape)} for n in graph.outputs]}


def _io(graph, names, dtype):
    return [{"name": n, "shape": list(graph.tensors[n].shape), "dtype": dtype, "layout": "NCHW"
             if len(graph.tensors[n].shape) == 4 else "", "quant": None} for n in names]


def _kernel_files(dtype):
    from .package.riscv import kernel_sources
    return kernel_sources("rvv", dtypes=(dtype,))


def check_numerics(graph, lw, layer_outputs, reference, tol):
    """Compare each layer's device output with the reference; raise naming the first bad layer.
    Returns [(layer name, relative error)]."""
    errs = []
    for l_, dev in zip(lw.layers, layer_outputs):
        ref = np.asarray(reference[l_["out"]], np.float64).reshape(-1)
        err = float(np.abs(dev.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-6)) if ref.size else 0.0
        errs.append((l_["name"], err))
        if not np.isfinite(err) or err > tol:
            raise DeviceError(f"layer {l_['name']} ({l_['op']}, {l_['impl']}): output differs from the reference "
                              f"by {err:.3g} (relative to max|ref|; tolerance {tol:g})")
    return errs


def _selftest_input(graph, selftest_input):
    shape = graph.tensors[graph.inputs[0]].shape
    if selftest_input is None:
        return np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x = np.asarray(selftest_input, np.float32)
    if x.size != _numel(shape):
        raise DataError(f"self-test input has {x.size} values; graph input {graph.inputs[0]!r} has shape {list(shape)}")
    return x.reshape(shape)


MAKEFILE = """# Rebuild by hand (edgesdk did this already): make app | make rig | make selftest.elf | make firmware.elf
# (TVM layers, if any, also need their objects from tvm64/ or tvm32/ on the link line)
CLANG ?= clang-19
K := kernels
INC := -Iinclude -I. -Ihil
RV32 := --target=riscv32-unknown-elf -march=rv32gcv_zfh_zvfh -mabi=ilp32d -ffreestanding -nostdlib -mcmodel=medany
app: model.c main_linux.c $(wildcard $(K)/*_rvv.c)
\t$(CLANG) --target=riscv64-linux-gnu -march=rv64gcv_zfh_zvfh -O2 -DEK_LAYER_DUMP -fuse-ld=lld -static $(INC) $^ -lm -o $@
rig: model.c hil/ek_hil_codec.c hil/ek_hil_server.c hil/ek_hil_port_host.c $(wildcard $(K)/*_rvv.c)
\t$(CLANG) --target=riscv64-linux-gnu -march=rv64gcv_zfh_zvfh -O2 -fuse-ld=lld -static $(INC) $^ -lm -o $@
selftest.elf: crt0.S platform.c model.c main_baremetal.c $(wildcard $(K)/*_rvv.c)
\t$(CLANG) $(RV32) -O2 -DEK_LAYER_TIMING $(INC) -fuse-ld=lld -Wl,-T,link.ld $^ -o $@
firmware.elf: crt0.S platform.c model.c hil/ek_hil_codec.c hil/ek_hil_server.c hil/ek_hil_port_riscv.c $(wildcard $(K)/*_rvv.c)
\t$(CLANG) $(RV32) -O2 -DEK_LAYER_TIMING $(INC) -fuse-ld=lld -Wl,-T,link.ld $^ -o $@
"""


def _parse_floats(data, counts):
    flat = np.frombuffer(data, np.float32)
    if flat.size != sum(counts):
        raise DeviceError(f"the device wrote {flat.size} values, expected {sum(counts)}")
    out, pos = [], 0
    for c in counts:
        out.append(flat[pos:pos + c])
        pos += c
    return out


def _parse_uart(text, n_layers):
    import re
    outs = [np.array([int(h, 16) for h in m.group(1).split()], np.uint32).view(np.float32)
            for m in re.finditer(r"^OUT((?: [0-9a-f]{8})*)\s*$", text, re.M)]
    counts = {int(m[1]): int(m[2]) for m in re.finditer(r"^LAYER (\d+) (\d+)", text, re.M)}
    total = re.search(r"^TOTAL (\d+)", text, re.M)
    if total is None or len(counts) != n_layers:
        raise DeviceError(f"firmware output incomplete: {text[-300:]!r}")
    return outs, [counts[i] for i in range(n_layers)], int(total[1])


def build(graph, board, out_dir, dtype="f16", vlen=None, selftest_input=None, tol=None, timeout=600):
    """Build a float graph for a RISC-V board; returns the summary (also in manifest.json)."""
    from . import reference
    from .boards import Board, load_board
    from .codegen.riscv.emit import emit_model_c, main_source, selftest_header
    from .hil.firmware import hil_dir, rig_defines, rig_sources
    from .ir import serialize
    from .package.riscv import check_vlen, compile_baremetal, compile_linux, run_baremetal, run_linux
    from .paths import kernels_dir, runtime_dir, targets_dir
    from .pipeline import write_build

    b = board if isinstance(board, Board) else load_board(board)
    if b.target != "riscv":
        raise EdgeError(f"board {b.name} ({b.path}) is a {b.target} board, not a riscv board")
    dtype = dtype or "f16"
    vlen = check_vlen(int(vlen or b.extra.get("vlen", 128)))
    baremetal = b.runner == "qemu"
    xlen = int(b.extra.get("xlen", 32 if baremetal else 64))
    lw = lower(graph, dtype)
    plan = _plan(graph, lw)
    x = _selftest_input(graph, selftest_input)
    kfiles = _kernel_files(dtype)
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        edg = serialize.save(graph, tmp / "model.edg")
        model_hash = zlib.crc32(Path(edg).read_bytes()) & 0xFFFFFFFF
        build_id = f"{model_hash:08x}-riscv-{b.name}-{dtype}-vlen{vlen}"
        model = _model_dict(graph, lw, plan, build_id, model_hash)
        src = tmp / "src"
        src.mkdir()
        (src / "model.c").write_text(emit_model_c(model))
        (src / "main_linux.c").write_text(main_source("linux", dtype))
        (src / "main_baremetal.c").write_text(main_source("baremetal", dtype))
        (src / "selftest_input.h").write_text(selftest_header(x))
        inc = [runtime_dir() / "include", src]
        tvm_objs = {}
        if lw.tvm:
            from .codegen.tvm_riscv import build_op
            for bits in sorted({64, xlen} if baremetal else {64}):
                tvm_objs[bits] = [build_op(t["op"], t["attrs"], t["shape"], dtype, src / f"tvm{bits}" / f"{t['name']}.o",
                                           bits, t["name"]) for t in lw.tvm]

        # numerics: the same model.c in Linux user mode, every layer against the reference
        app = compile_linux([src / "model.c", src / "main_linux.c", *kfiles], tmp / "app", include_dirs=inc,
                            defines={"EK_LAYER_DUMP": None}, extra_objects=tvm_objs.get(64, []))
        x.tofile(tmp / "in.f32")
        r = run_linux(app, [tmp / "in.f32", tmp / "out.f32", tmp / "layers.f32"], vlen=vlen, timeout=timeout)
        if r.exit_code != 0:
            raise DeviceError(f"{b.name}: the model app failed under qemu-riscv64 (exit {r.exit_code}): "
                              f"{r.stderr.strip()[:200]}")
        layer_outs = _parse_floats((tmp / "layers.f32").read_bytes(), [l_["out_elems"] for l_ in model["layers"]])
        outs = _parse_floats((tmp / "out.f32").read_bytes(), [o["elems"] for o in model["outputs"]])
        ref = reference.run(graph, {graph.inputs[0]: x}, keep_intermediates=True)
        tol = TOL[dtype] if tol is None else tol
        errs = check_numerics(graph, lw, layer_outs, ref, tol)

        counts, total = None, None
        files = {"model.edg": Path(edg), "src/model.c": src / "model.c", "src/main_linux.c": src / "main_linux.c",
                 "src/main_baremetal.c": src / "main_baremetal.c", "src/selftest_input.h": src / "selftest_input.h",
                 "src/Makefile": MAKEFILE}
        for f in kfiles:
            files[f"src/kernels/{f.name}"] = f
            twin = f.with_name(f.name.replace("_f16_", "_f32_"))
            files[f"src/kernels/{twin.name}"] = twin          # FP16 sources include their FP32 twin
        for bits, objs in tvm_objs.items():
            for o in objs:
                files[f"src/tvm{bits}/{o.name}"] = o
        for h in ("ek_float.h", "ek_float_impl.h"):
            files[f"src/include/{h}"] = kernels_dir() / "include" / h
        files["src/include/ek_model_api.h"] = runtime_dir() / "include" / "ek_model_api.h"
        rig_srcs = rig_sources(b)
        # both RISC-V ports ship, so src/Makefile can rebuild either rig image
        for f in sorted({*rig_srcs, hil_dir() / "ek_hil_port_riscv.c", hil_dir() / "ek_hil_port_host.c",
                         hil_dir() / "ek_hil.h"}):
            files[f"src/hil/{f.name}"] = f
        for f in ("crt0.S", "platform.c", "link.ld", "include/ek_rv_platform.h"):
            files[f"src/{Path(f).name}" if not f.startswith("include") else f"src/{f}"] = targets_dir() / "riscv" / f
        if baremetal:
            fw = compile_baremetal([src / "model.c", src / "main_baremetal.c", *kfiles], tmp / "selftest.elf",
                                   xlen=xlen, defines={"EK_LAYER_TIMING": None}, include_dirs=inc,
                                   ram_bytes=b.ram.size, extra_objects=tvm_objs.get(xlen, []))
            code, text = run_baremetal(fw, timeout=timeout, vlen=vlen, xlen=xlen)
            if code != 0:
                raise DeviceError(f"{b.name}: firmware exited with {code}: {text[-300:]!r}")
            fw_outs, counts, total = _parse_uart(text, len(model["layers"]))
            for o_dev, o_app in zip(fw_outs, outs):
                scale = max(float(np.abs(o_app).max()), 1e-6)
                if o_dev.size != o_app.size or float(np.abs(o_dev - o_app).max()) / scale > tol:
                    raise DeviceError(f"{b.name}: bare-metal output differs from the Linux user-mode run")
            files["selftest.elf"] = fw
            # the rig firmware: the same model.c behind the host-in-the-loop server
            files["firmware.elf"] = compile_baremetal(
                [src / "model.c", *rig_srcs, *kfiles], tmp / "firmware.elf", xlen=xlen,
                defines={**rig_defines(b), "EK_LAYER_TIMING": None}, include_dirs=[*inc, hil_dir()],
                ram_bytes=b.ram.size, extra_objects=tvm_objs.get(xlen, []))
            image, selftest_image = "firmware.elf", "selftest.elf"
        else:
            files["app"] = app
            files["rig"] = compile_linux([src / "model.c", *rig_srcs, *kfiles], tmp / "rig",
                                         defines=rig_defines(b), include_dirs=[*inc, hil_dir()],
                                         extra_objects=tvm_objs.get(64, []))
            image, selftest_image = "rig", "app"

        layers = []
        for i, (l_, (_, err)) in enumerate(zip(lw.layers, errs)):
            out_t = graph.tensors[l_["out"]]
            layers.append({"name": l_["name"], "op": l_["op"], "impl": l_["impl"], "macs": l_["macs"],
                           "arena_offset": plan.offsets[l_["out"]], "out_bytes": _numel(out_t.shape) * ESIZE[dtype],
                           "instructions": counts[i] if counts else None, "rel_err": err})
        macs = sum(l_["macs"] for l_ in lw.layers)
        summary = BuildSummary(
            flash_bytes=model["weight_bytes"],   # bare metal: replaced by the ELF's loaded bytes
            ram_bytes=plan.arena_bytes, arena_bytes=plan.arena_bytes, arena_lower_bound=plan.lower_bound,
            weight_bytes=model["weight_bytes"], macs=macs, instructions=total,
            macs_per_instruction=round(macs / total, 3) if total else None,
            max_rel_err=max((e for _, e in errs), default=0.0), tolerance=tol, dtype=dtype, vlen=vlen,
            board=b.name, layers=layers)
        if baremetal:
            summary["flash_bytes"] = _elf_load_bytes(tmp / "selftest.elf")
        manifest = {"format": 1, "target": "riscv", "board": b.name, "board_file": str(b.path),
                    "build_id": build_id, "model_hash": model_hash, "image": image,
                    "selftest_image": selftest_image,
                    "dtype": dtype, "vlen": vlen, "xlen": xlen,
                    "inputs": _io(graph, graph.inputs, dtype), "outputs": _io(graph, graph.outputs, dtype),
                    "layers": layers,
                    "summary": {k: summary[k] for k in ("flash_bytes", "ram_bytes", "arena_bytes", "arena_lower_bound",
                                                        "weight_bytes", "macs", "instructions")},
                    "numerics": {"tolerance": tol, "max_rel_err": summary["max_rel_err"],
                                 "reference": "edgesdk.reference.run, per layer"},
                    "train": None}
        files["summary.txt"] = format_summary(summary)
        write_build(out_dir, files, manifest)
    return summary


def _elf_load_bytes(elf):
    """Bytes of the loaded (PROGBITS, alloc) sections of an ELF: code + constants + data."""
    import struct
    data = Path(elf).read_bytes()
    is64 = data[4] == 2
    if is64:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    total = 0
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _, typ, flags, _, _, size = struct.unpack_from("<IIQQQQ", data, off)
        else:
            _, typ, flags, _, _, size = struct.unpack_from("<IIIIII", data, off)
        if typ == 1 and flags & 2:   # SHT_PROGBITS, SHF_ALLOC
            total += size
    return total


def format_summary(s):
    lines = [f"riscv build for {s['board']}: {s['dtype']} kernels (RVV, VLEN={s['vlen']}), "
             f"max per-layer error {s['max_rel_err']:.2e} (tolerance {s['tolerance']:g})",
             f"{'layer':40s} {'op':18s} {'impl':22s} {'MACs':>10s} {'instr':>10s} {'MAC/ins':>8s} {'rel.err':>9s}"]
    for l_ in s["layers"]:
        ins = l_["instructions"]
        mpi = f"{l_['macs'] / ins:8.2f}" if ins else f"{'-':>8s}"
        lines.append(f"{l_['name'][-40:]:40s} {l_['op']:18s} {l_['impl']:22s} {l_['macs']:>10,d} "
                     f"{(f'{ins:,d}' if ins else '-'):>10s} {mpi} {l_['rel_err']:9.2e}")
    ins = s["instructions"]
    lines.append(f"total: {s['macs']:,d} MACs, " + (f"{ins:,d} instructions ({s['macs_per_instruction']} MACs/instr), "
                                                   if ins else "instructions not counted (Linux user mode), ")
                 + f"weights {s['weight_bytes']:,d} B, arena {s['arena_bytes']:,d} B "
                 f"(lower bound {s['arena_lower_bound']:,d} B), image {s['flash_bytes']:,d} B")
    return "\n".join(lines) + "\n"
