"""TVM GPU codegen: edgesdk IR layers -> Relax -> dlight-scheduled TIR -> OpenCL / CUDA source.

Each IR node (a layer) becomes one Relax function (relax.BlockBuilder with
relax.op.nn.conv2d / matmul / add / ...); the quantized ops are written out in integer
Relax arithmetic that is bit-exact with edgesdk.quant.fixedpoint (int32 accumulation,
int64 requantization, round half up). Relax legalizes and fuses each layer, dlight's
default GPU rules schedule the PrimFuncs, and TVM's TIR pipeline splits them into
device kernels.

TVM 0.27's wheel has no OpenCL runtime, so the result is not a TVM module but a plan
that edgesdk launches itself (edgesdk.gpu.plan_runner, pyopencl): the kernel source,
and for every layer the kernels in order with their argument buffers and launch sizes
read from the device functions (`tirx.kernel_launch_params` tags and the
`thread_extent` of each launch_thread). Nothing outside edgesdk.codegen imports TVM.
"""
import re
from dataclasses import dataclass, field

import numpy as np

from edgesdk.errors import EdgeError, UnsupportedOpsError

_NP = {"s8": "int8", "s32": "int32", "f32": "float32", "f16": "float16", "u8": "uint8", "s64": "int64",
       "u32": "uint32", "b1": "uint32"}


class TvmGpuError(EdgeError):
    """A layer TVM cannot compile for the GPU; the message names the node."""


@dataclass
class Launch:
    kernel: str                 # device kernel name in the generated source
    args: list                  # buffer names, in the kernel's argument order
    grid: tuple                 # work-groups / blocks per dim (x, y, z)
    block: tuple                # work-items / threads per dim (x, y, z)


@dataclass
class Step:
    func: str                   # the scheduled PrimFunc
    launches: list


@dataclass
class Layer:
    node: str
    op: str
    inputs: list                # graph tensor names read
    outputs: list               # graph tensor names written
    steps: list = field(default_factory=list)


@dataclass
class GpuPlan:
    """TVM-free result: everything a launcher needs."""
    api: str                    # "opencl" | "cuda"
    source: str                 # all device kernels
    layers: list                # [Layer] in graph order
    buffers: dict               # name -> {"shape", "dtype"} for every tensor a kernel touches
    consts: dict                # name -> np.ndarray uploaded once
    kernels: dict = field(default_factory=dict)   # kernel -> {"params": [...], "func": ...}

    def to_json(self):
        return {
            "api": self.api,
            "buffers": self.buffers,
            "consts": sorted(self.consts),
            "layers": [{"node": l.node, "op": l.op, "inputs": l.inputs, "outputs": l.outputs,
                        "steps": [{"func": s.func, "launches": [
                            {"kernel": k.kernel, "args": k.args, "grid": list(k.grid), "block": list(k.block)}
                            for k in s.launches]} for s in l.steps]} for l in self.layers],
        }


# ---------------------------------------------------------------- IR -> Relax


def _attr_pads(node, x_shape, w_shape):
    from edgesdk.ir.opdefs.conv import conv_geometry
    return conv_geometry(node, x_shape, w_shape)


class _LayerBuilder:
    """Emits one IR node as Relax ops inside an open BlockBuilder dataflow block."""

    def __init__(self, bb, graph, relax, consts):
        self.bb, self.g, self.R, self.consts = bb, graph, relax, consts

    # helpers -------------------------------------------------------------
    def const(self, value, dtype):
        return self.R.const(np.asarray(value, dtype=dtype), dtype)

    def emit(self, e):
        return self.bb.emit(e)

    def cast(self, x, dtype):
        return self.emit(self.R.op.astype(x, dtype))

    def activation(self, y, kind):
        op = self.R.op
        if kind in (None, "", "none"):
            return y
        if kind == "relu":
            return self.emit(op.nn.relu(y))
        if kind == "relu6":
            dt = str(y.ty.dtype) if hasattr(y, "ty") else "float32"
            return self.emit(op.minimum(op.maximum(y, self.const(0, dt)), self.const(6, dt)))
        raise TvmGpuError(f"node activation {kind!r} has no GPU lowering")

    def requant(self, acc, mult, shift, y_zp, lo, hi, axis, ndim):
        """int32 acc -> int8: (acc * m + 2^(total-1)) >> total, + y_zp, clamp (fixedpoint spec)."""
        op = self.R.op
        m = np.asarray(mult, np.int64).reshape(-1)
        s = np.asarray(shift, np.int64).reshape(-1)
        total = 31 - s
        rnd = np.left_shift(np.int64(1), total - 1)
        shape = [1] * ndim
        if m.size > 1:
            shape[axis] = m.size
        v = self.cast(acc, "int64")
        v = self.emit(op.add(op.multiply(v, self.const(m.reshape(shape), "int64")),
                             self.const(rnd.reshape(shape), "int64")))
        v = self.emit(op.right_shift(v, self.const(total.reshape(shape), "int64")))
        v = self.emit(op.add(op.astype(v, "int32"), self.const(int(y_zp), "int32")))
        v = self.emit(op.minimum(op.maximum(v, self.const(int(lo), "int32")), self.const(int(hi), "int32")))
        return self.cast(v, "int8")

    def centred(self, x, zp):
        return self.emit(self.R.op.subtract(self.R.op.astype(x, "int32"), self.const(int(zp), "int32")))

    # ops ---------------------------------------------------------------
    def __call__(self, node, ins):
        fn = getattr(self, "op_" + node.op, None)
        if fn is None:
            raise UnsupportedOpsError([(node.name, node.op)], source="GPU (TVM)")
        return fn(node, ins)

    def _conv_args(self, node):
        x_t = self.g.tensors[node.inputs[0]]
        w_t = self.g.tensors[node.inputs[1]]
        if len(x_t.shape) != 4:
            raise TvmGpuError(f"node {node.name}: only 2D convolutions have a GPU path (input {x_t.shape})")
        strides, pads, dil = _attr_pads(node, x_t.shape, w_t.shape)
        return dict(strides=tuple(strides), padding=(pads[0], pads[1], pads[2], pads[3]),
                    dilation=tuple(dil), groups=int(node.attrs.get("group", 1)))

    def op_Conv(self, node, ins):
        op = self.R.op
        y = self.emit(op.nn.conv2d(ins[0], ins[1], **self._conv_args(node)))
        if len(ins) > 2 and ins[2] is not None:
            y = self.emit(op.add(y, op.reshape(ins[2], (1, -1, 1, 1))))
        return self.activation(y, node.attrs.get("activation"))

    def op_QConv(self, node, ins):
        op, a = self.R.op, node.attrs
        x = self.centred(ins[0], a["x_zp"])   # zero padding of the centred input == x_zp padding
        w = self.cast(ins[1], "int32")
        acc = self.emit(op.nn.conv2d(x, w, out_dtype="int32", **self._conv_args(node)))
        if len(ins) > 2 and ins[2] is not None:
            acc = self.emit(op.add(acc, op.reshape(ins[2], (1, -1, 1, 1))))
        return self.requant(acc, a["multiplier"], a["shift"], a["y_zp"], a.get("act_min", -128),
                            a.get("act_max", 127), axis=1, ndim=4)

    def _gemm_weight(self, node, w):
        if node.attrs.get("transA", 0):
            raise TvmGpuError(f"node {node.name}: Gemm with transA=1 has no GPU path")
        return self.emit(self.R.op.permute_dims(w)) if node.attrs.get("transB", 0) else w

    def op_Gemm(self, node, ins):
        op = self.R.op
        if float(node.attrs.get("alpha", 1.0)) != 1.0 or float(node.attrs.get("beta", 1.0)) != 1.0:
            raise TvmGpuError(f"node {node.name}: Gemm with alpha/beta != 1 has no GPU path (fold them first)")
        y = self.emit(op.matmul(ins[0], self._gemm_weight(node, ins[1])))
        if len(ins) > 2 and ins[2] is not None:
            y = self.emit(op.add(y, ins[2]))
        return self.activation(y, node.attrs.get("activation"))

    def op_MatMul(self, node, ins):
        return self.activation(self.emit(self.R.op.matmul(ins[0], ins[1])), node.attrs.get("activation"))

    def op_QGemm(self, node, ins):
        op, a = self.R.op, node.attrs
        x = self.centred(ins[0], a["x_zp"])
        w = self.emit(op.permute_dims(op.astype(ins[1], "int32")))   # QGemm stores w as [M, K]
        acc = self.emit(op.matmul(x, w, out_dtype="int32"))
        if len(ins) > 2 and ins[2] is not None:
            acc = self.emit(op.add(acc, ins[2]))
        return self.requant(acc, a["multiplier"], a["shift"], a["y_zp"], a.get("act_min", -128),
                            a.get("act_max", 127), axis=1, ndim=2)

    def op_QAdd(self, node, ins):
        op, a = self.R.op, node.attrs

        def side(x, zp, m, s):
            t = self.cast(self.centred(x, zp), "int64")
            t = self.emit(op.left_shift(t, self.const(20, "int64")))
            total = 31 - int(s)
            t = self.emit(op.right_shift(op.add(op.multiply(t, self.const(int(m), "int64")),
                                                self.const(1 << (total - 1), "int64")), self.const(total, "int64")))
            return t
        acc = self.emit(op.astype(op.add(side(ins[0], a["a_zp"], a["a_multiplier"], a["a_shift"]),
                                         side(ins[1], a["b_zp"], a["b_multiplier"], a["b_shift"])), "int32"))
        ndim = len(self.g.tensors[node.outputs[0]].shape)
        return self.requant(acc, a["multiplier"], a["shift"], a["y_zp"], a.get("act_min", -128),
                            a.get("act_max", 127), axis=0, ndim=ndim)

    def op_QGlobalAvgPool(self, node, ins):
        op, a = self.R.op, node.attrs
        ndim = len(self.g.tensors[node.inputs[0]].shape)
        acc = self.emit(op.sum(self.centred(ins[0], a["x_zp"]), axis=list(range(2, ndim)), keepdims=True))
        return self.requant(acc, a["multiplier"], a["shift"], a["y_zp"], a.get("act_min", -128),
                            a.get("act_max", 127), axis=1, ndim=ndim)

    def op_QAvgPool(self, node, ins):
        """Window sums of the centred input as a depthwise conv with ones (padding is 0 =
        x_zp, counted in the window size that the host folded into M)."""
        op, a = self.R.op, node.attrs
        x_t = self.g.tensors[node.inputs[0]]
        if len(x_t.shape) != 4:
            raise TvmGpuError(f"node {node.name}: only 2D pooling has a GPU path")
        c = int(x_t.shape[1])
        kh, kw = (int(v) for v in a["kernel_shape"])
        ones = self.const(np.ones((c, 1, kh, kw), np.int32), "int32")
        pads = list(a.get("pads") or [0, 0, 0, 0])
        acc = self.emit(op.nn.conv2d(self.centred(ins[0], a["x_zp"]), ones, strides=tuple(a.get("strides") or [1, 1]),
                                     padding=tuple(pads), groups=c, out_dtype="int32"))
        return self.requant(acc, a["multiplier"], a["shift"], a["y_zp"], a.get("act_min", -128),
                            a.get("act_max", 127), axis=1, ndim=4)

    def op_QSoftmax(self, node, ins):
        op = self.R.op
        table = self.const(np.asarray(node.attrs["table"], np.int64).reshape(-1), "int64")
        x = self.cast(ins[0], "int32")
        d = self.emit(op.subtract(op.max(x, axis=-1, keepdims=True), x))
        e = self.emit(op.take(table, d, axis=0, mode="clip"))   # d is in [0, 255] by construction
        s = self.emit(op.sum(e, axis=-1, keepdims=True))
        q = self.emit(op.floor_divide(op.add(op.multiply(e, self.const(256, "int64")),
                                             op.floor_divide(s, self.const(2, "int64"))), s))
        q = self.emit(op.subtract(op.astype(q, "int32"), self.const(128, "int32")))
        q = self.emit(op.minimum(op.maximum(q, self.const(-128, "int32")), self.const(127, "int32")))
        return self.cast(q, "int8")

    def _pool_args(self, node):
        k = list(node.attrs["kernel_shape"])
        if len(k) != 2:
            raise TvmGpuError(f"node {node.name}: only 2D pooling has a GPU path")
        pads = list(node.attrs.get("pads") or [0, 0, 0, 0])
        return dict(pool_size=tuple(k), strides=tuple(node.attrs.get("strides") or [1, 1]),
                    padding=tuple(pads), dilation=tuple(node.attrs.get("dilations") or [1, 1]),
                    ceil_mode=bool(node.attrs.get("ceil_mode", 0)))

    def op_MaxPool(self, node, ins):
        return self.emit(self.R.op.nn.max_pool2d(ins[0], **self._pool_args(node)))

    def op_AveragePool(self, node, ins):
        return self.emit(self.R.op.nn.avg_pool2d(ins[0], count_include_pad=bool(node.attrs.get("count_include_pad", 0)),
                                                 **self._pool_args(node)))

    def op_GlobalAveragePool(self, node, ins):
        ndim = len(self.g.tensors[node.inputs[0]].shape)
        return self.emit(self.R.op.mean(ins[0], axis=list(range(2, ndim)), keepdims=True))

    def _reshape(self, node, ins):
        return self.emit(self.R.op.reshape(ins[0], tuple(self.g.tensors[node.outputs[0]].shape)))

    op_Flatten = op_Reshape = op_Squeeze = op_Unsqueeze = _reshape

    def op_Identity(self, node, ins):
        return self.emit(self.R.op.add(ins[0], self.const(0, str(ins[0].ty.dtype))))

    op_Dropout = op_Identity

    def _binary(name):
        def f(self, node, ins):
            y = self.emit(getattr(self.R.op, name)(ins[0], ins[1]))
            return self.activation(y, node.attrs.get("activation"))
        return f

    op_Add = _binary("add")
    op_Sub = _binary("subtract")
    op_Mul = _binary("multiply")
    op_Div = _binary("divide")

    def op_Relu(self, node, ins):
        return self.emit(self.R.op.nn.relu(ins[0]))

    def op_Sigmoid(self, node, ins):
        return self.emit(self.R.op.sigmoid(ins[0]))

    def op_Tanh(self, node, ins):
        return self.emit(self.R.op.tanh(ins[0]))

    def op_HardSwish(self, node, ins):
        op = self.R.op
        x = ins[0]
        r6 = op.minimum(op.maximum(op.add(x, self.const(3, "float32")), self.const(0, "float32")), self.const(6, "float32"))
        return self.emit(op.divide(op.multiply(x, r6), self.const(6, "float32")))

    def op_Clip(self, node, ins):
        op = self.R.op
        lo = self.g.const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else node.attrs.get("min")
        hi = self.g.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else node.attrs.get("max")
        dt = str(ins[0].ty.dtype)
        y = ins[0]
        if lo is not None:
            y = op.maximum(y, self.const(np.asarray(lo).reshape(()), dt))
        if hi is not None:
            y = op.minimum(y, self.const(np.asarray(hi).reshape(()), dt))
        return self.emit(y) if y is not ins[0] else self.op_Identity(node, ins)

    def op_BatchNormalization(self, node, ins):
        """Inference BN left standing (after a binary layer's scale, or before a Linear) as
        one multiply-add; its per-channel scale and shift are folded on the host."""
        from edgesdk.passes.fold_batchnorm import bn_affine
        affine = bn_affine(self.g, node)
        if affine is None:
            raise TvmGpuError(f"node {node.name}: only inference BatchNormalization with constant parameters "
                              f"has a GPU path")
        ndim = len(self.g.tensors[node.inputs[0]].shape)
        shape = (1, -1) + (1,) * (ndim - 2)
        s, shift = (self.const(v.reshape(shape), str(ins[0].ty.dtype)) for v in affine)
        return self.emit(self.R.op.add(self.R.op.multiply(ins[0], s), shift))

    def op_Pad(self, node, ins):
        from edgesdk.ir.opdefs.layout import pad_widths
        mode = node.attrs.get("mode", "constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        inputs = list(node.inputs) + [""] * 3
        pads = self.g.const(inputs[1]) if inputs[1] else node.attrs.get("pads")
        if mode != "constant" or inputs[3] or pads is None:
            raise TvmGpuError(f"node {node.name}: only constant Pad over all axes, with constant pads, has a GPU "
                              f"path (mode {mode})")
        widths = pad_widths(len(self.g.tensors[node.inputs[0]].shape), pads)
        if min(min(w) for w in widths) < 0:
            raise TvmGpuError(f"node {node.name}: negative pads (cropping) have no GPU path")
        value = np.asarray(self.g.const(inputs[2]) if inputs[2] else node.attrs.get("value", 0.0)).reshape(-1)
        return self.emit(self.R.op.nn.pad(ins[0], [v for w in widths for v in w], "constant",
                                          float(value[0]) if value.size else 0.0))

    def op_Softmax(self, node, ins):
        return self.emit(self.R.op.nn.softmax(ins[0], axis=int(node.attrs.get("axis", -1))))

    def op_Concat(self, node, ins):
        return self.emit(self.R.op.concat(list(ins), axis=int(node.attrs["axis"])))

    def op_Transpose(self, node, ins):
        perm = node.attrs.get("perm")
        return self.emit(self.R.op.permute_dims(ins[0], None if perm is None else list(perm)))


def supported_ops():
    return sorted(n[3:] for n in dir(_LayerBuilder) if n.startswith("op_"))


def unsupported_nodes(graph, nodes=None):
    ok = set(supported_ops())
    return [(n.name, n.op) for n in (nodes if nodes is not None else graph.nodes) if n.op not in ok]


def _tensor_type(relax, t, dtype=None):
    return relax.TensorType(tuple(int(s) for s in t.shape), dtype or _NP[t.dtype])


def build_relax(graph, nodes):
    """One Relax function per node ("layer<i>"); returns (IRModule, {func: (node, [param names])})."""
    import tvm
    from tvm import relax

    bad = unsupported_nodes(graph, nodes)
    if bad:
        raise UnsupportedOpsError(bad, source=f"{graph.name} (no GPU lowering)")
    bb = relax.BlockBuilder()
    info = {}
    for i, node in enumerate(nodes):
        fname = f"layer{i}"
        params, ins = [], []
        for name in node.inputs:
            if not name:
                ins.append(None)
                continue
            t = graph.tensors[name]
            if t.is_const:
                dt = _NP[t.dtype]
                ins.append(relax.const(np.asarray(t.data).astype(dt), dt))
            else:
                v = relax.Var(_safe(name), _tensor_type(relax, t))
                params.append((name, v))
                ins.append(v)
        with bb.function(fname, [v for _, v in params]):
            with bb.dataflow():
                out = _LayerBuilder(bb, graph, relax, None)(node, ins)
                out_t = graph.tensors[node.outputs[0]]
                want = tuple(int(s) for s in out_t.shape)
                got = tuple(int(s) for s in out.ty.shape.values)
                if got != want:
                    out = bb.emit(relax.op.reshape(out, want))
                gv = bb.emit_output(out)
            bb.emit_func_output(gv)
        info[fname] = (node, [n for n, _ in params])
    return bb.get(), info


def _safe(name):
    """A C identifier for a Relax var: kernel parameters are named after it (name + "_ptr")."""
    s = re.sub(r"\W", "_", name) or "t"
    return "t" + s if s[0].isdigit() or s[0] == "_" else s


# ---------------------------------------------------------------- Relax -> kernels


def target_for(api, arch="sm_87"):
    import tvm
    if api == "opencl":
        return tvm.target.Target({"kind": "opencl"}, host={"kind": "llvm"})
    if api == "cuda":
        return tvm.target.Target({"kind": "cuda", "arch": arch}, host={"kind": "llvm"})
    raise ValueError(f"unknown GPU api {api!r}")


def schedule(mod, target):
    """Legalize, fuse within each layer, and apply dlight's default GPU schedules."""
    import tvm
    from tvm import relax
    from tvm.s_tir import dlight as dl

    seq = tvm.transform.Sequential([
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
        relax.transform.DeadCodeElimination(),
    ])
    with target:
        mod = seq(mod)
        mod = dl.ApplyDefaultSchedule(dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(),
                                      dl.gpu.GeneralReduction(), dl.gpu.Fallback())(mod)
    return mod


_LAUNCH = re.compile(r'T\.launch_thread\("((?:blockIdx|threadIdx)\.[xyz])",\s*(?:T\.int\d+\()?(\d+)\)?\)')
_DIM = {"x": 0, "y": 1, "z": 2}


def _kernel_order(name):
    m = re.search(r"_kernel(?:_(\d+))?$", name)
    return int(m.group(1) or 0) if m else 0


def compile_device(mod, target):
    """Build every scheduled PrimFunc: (source, {func: [(kernel, [param buffer names], grid, block)]})."""
    import tvm
    from tvm import tirx
    from tvm.tirx.build import codegen_build, split_host_device_mods

    prims = {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}
    pmod = tvm.IRModule({n: f.with_attr("global_symbol", n) for n, f in prims.items()})
    pmod = tvm.tirx.transform.BindTarget(target)(pmod)
    pipe, _fin_host, fin_dev = tvm.tirx.get_default_tir_pipeline(target)
    pmod = pipe(pmod)
    _host, devs = split_host_device_mods(pmod)
    launches = {n: [] for n in prims}
    sources = []
    for tgt, dm in devs.items():
        for gv, df in dm.functions.items():
            kname = gv.name_hint
            func = re.sub(r"_kernel(_\d+)?$", "", kname)
            if func not in launches:
                raise RuntimeError(f"device kernel {kname} matches no PrimFunc")
            grid, block = [1, 1, 1], [1, 1, 1]
            for tag, ext in _LAUNCH.findall(df.script()):
                kind, d = tag.split(".")
                (grid if kind == "blockIdx" else block)[_DIM[d]] = int(ext)
            params = []
            for p in df.params:
                if "handle" not in str(p.ty):
                    raise TvmGpuError(f"kernel {kname}: scalar parameter {p.name} (dynamic shapes have no GPU path)")
                params.append(re.sub(r"_ptr$", "", p.name))
            launches[func].append((kname, params, tuple(grid), tuple(block)))
        src = codegen_build(fin_dev()(dm), tgt).inspect_source()
        sources.append(src)
    for f in launches:
        launches[f].sort(key=lambda k: _kernel_order(k[0]))
    return "\n".join(sources), launches, prims


def _buffer_names(prim):
    """PrimFunc parameter buffer names, in parameter order."""
    return [p.name for p in prim.params]


def lower_graph(graph, api="opencl", nodes=None, arch="sm_87"):
    """IR graph (or a subset of its nodes) -> GpuPlan for `api`."""
    import tvm
    from tvm import relax

    nodes = list(graph.nodes) if nodes is None else list(nodes)
    mod, info = build_relax(graph, nodes)
    target = target_for(api, arch)
    mod = schedule(mod, target)
    source, launches, prims = compile_device(mod, target)

    buffers, consts, layers = {}, {}, []

    def add_buffer(name, shape, dtype):
        buffers.setdefault(name, {"shape": [int(s) for s in shape], "dtype": str(dtype)})

    for fname, (node, param_names) in info.items():
        func = mod[fname]
        layer = Layer(node=node.name, op=node.op, inputs=list(param_names), outputs=[node.outputs[0]])
        names = {}   # relax Var -> buffer name
        for v, gname in zip(func.params, param_names):
            names[v] = gname
            t = graph.tensors[gname]
            add_buffer(gname, t.shape, _NP[t.dtype])
        body = func.body
        out_var = body.body
        tmp = 0
        for block in body.blocks:
            for b in block.bindings:
                val = b.value
                if not (isinstance(val, relax.Call) and val.op.name == "relax.call_tir"):
                    if isinstance(val, relax.Var) and val in names:   # an alias
                        names[b.var] = names[val]
                        continue
                    raise TvmGpuError(f"node {node.name}: lowered to {val.op if hasattr(val, 'op') else type(val).__name__}, "
                                      f"which edgesdk cannot launch")
                gv, args = val.args[0], val.args[1]
                arg_names = []
                for a in args.fields:
                    if isinstance(a, tvm.ir.expr.Constant):
                        cname = f"{node.name}/c{len([c for c in consts if c.startswith(node.name + '/c')])}"
                        arr = a.value.numpy()
                        consts[cname] = arr
                        add_buffer(cname, arr.shape, arr.dtype)
                        arg_names.append(cname)
                    else:
                        arg_names.append(names[a])
                sinfo = b.var.ty
                is_out = b.var.same_as(out_var) or _is_output(body, b.var)
                oname = node.outputs[0] if is_out else f"{node.name}/t{tmp}"
                tmp += not is_out
                names[b.var] = oname
                add_buffer(oname, [int(s) for s in sinfo.shape.values], sinfo.dtype)
                arg_names.append(oname)
                prim = prims[gv.name_hint]
                bnames = _buffer_names(prim)
                by_name = dict(zip(bnames, arg_names))
                if len(by_name) != len(bnames):
                    raise RuntimeError(f"{gv.name_hint}: duplicate buffer names {bnames}")
                step = Step(func=gv.name_hint, launches=[
                    Launch(kernel=k, args=[by_name[p] for p in params], grid=g, block=bl)
                    for k, params, g, bl in launches[gv.name_hint]])
                layer.steps.append(step)
        if node.outputs[0] not in buffers:
            raise TvmGpuError(f"node {node.name}: its output was not produced by a kernel")
        layers.append(layer)
    return GpuPlan(api=api, source=source, layers=layers, buffers=buffers, consts=consts,
                   kernels={k: {"func": f, "params": p} for f, ks in launches.items() for k, p, _, _ in ks})


def _is_output(seq, var):
    """True when `var` is what the layer function returns (through the dataflow output)."""
    from tvm import relax
    out = seq.body
    if var.same_as(out):
        return True
    for block in seq.blocks:
        for b in block.bindings:
            if b.var.same_as(out) and isinstance(b.value, relax.Var) and b.value.same_as(var):
                return True
    return False
