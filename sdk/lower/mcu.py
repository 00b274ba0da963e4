"""Lowering an integer graph for Cortex-M: kernel choice, NHWC layouts, weight transforms,
aliasing of shape-only ops, and the static memory plan.

Input: a quantized graph (integer ops only, NCHW as in the IR, batch 1).
Output: an McuProgram, a flat list of kernel calls with their constants already in the
layout the kernels read (kernels/include/ek_s8.h), and arena offsets for every
activation. The C emitter (edgesdk.codegen.mcu) only prints what this decides.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import EdgeError, FitError
from ..kernelcheck import scratch_bytes as kernel_scratch_bytes  # the C headers' scratch sizes
from .memory_plan import plan_memory

# Ops that only reinterpret the bytes of a tensor: on the device they cost nothing and
# their output aliases their input.
ALIAS_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
# Integer ops on s8 that no hand kernel runs: they always go through TVM (codegen/tvm_c.py).
TVM_ONLY_OPS = {"Transpose", "Concat"}
INT_OPS = {"QConv", "QGemm", "QAdd", "QAvgPool", "QGlobalAvgPool", "QSoftmax", "MaxPool"} | ALIAS_OPS | TVM_ONLY_OPS
ARENA_ALIGN = 16


@dataclass
class Layer:
    name: str            # the IR node name
    op: str              # the IR op
    kernel: str          # C function base, e.g. "conv2d_s8" (the isa suffix is added by `impl`)
    isa: str             # ref | dsp | mve
    inputs: list         # activation tensor names (alias roots)
    output: str
    params: dict         # the kernel's params struct fields (ints)
    consts: dict = field(default_factory=dict)  # C array name suffix -> np.ndarray (final layout)
    macs: int = 0
    scratch_bytes: int = 0
    n: int = 0           # element count for element-wise kernels
    tvm: object = None   # codegen.tvm_c.TvmLayer when TVM generated this layer's code
    weight_bits: int = 8 # bits of the weight values (<= 4: packed two per byte, kernels/include/ek_s4.h)

    @property
    def impl(self):
        return f"tvm:{self.tvm.func}" if self.tvm is not None else f"ek_{self.kernel}_{self.isa}"


@dataclass
class McuProgram:
    graph: object
    board: object
    layers: list
    inputs: list          # [(tensor name, shape NCHW, layout, QuantParams)]
    outputs: list
    offsets: dict         # activation tensor -> arena offset
    sizes: dict           # activation tensor -> bytes
    arena_bytes: int
    arena_lower_bound: int
    scratch_bytes: int    # total scratch planned (inside the arena)
    scratch_offsets: dict # layer name -> arena offset of its scratch
    weight_bytes: int
    macs: int
    alias: dict           # alias tensor -> root tensor
    layouts: dict         # activation tensor -> "NHWC" | "" (device layout)
    plan: object = None   # the MemoryPlan (lifetimes, for reports)
    tvm_source: str = ""  # C of the TVM-generated layers (printed into model.c), "" if none


def pick_isa(board, kernels="auto"):
    """The best kernel variant the board's core has, unless the user forces one."""
    if kernels != "auto":
        if kernels not in ("ref", "dsp", "mve"):
            raise EdgeError(f"--kernels must be auto, ref, dsp or mve, not {kernels!r}")
        if kernels != "ref" and kernels not in board.isa:
            raise EdgeError(f"board {board.name} ({board.core}) has no {kernels} extension "
                            f"(its isa list: {board.isa or 'none'})")
        return kernels
    if "mve" in board.isa:
        return "mve"
    if "dsp" in board.isa:
        return "dsp"
    return "ref"


def check_integer_only(graph, target="mcu"):
    bad = [f"{n.name} ({n.op})" for n in graph.nodes if n.op not in INT_OPS]
    if bad:
        raise EdgeError(f"float ops left in a model built for the int8 {target} target: {', '.join(bad)}; "
                        f"quantize it first (edgesdk quantize, or pass --calib to build)")
    for name in graph.inputs:
        if graph.tensors[name].dtype != "s8":
            raise EdgeError(f"graph input {name!r} is {graph.tensors[name].dtype}; the {target} target takes s8 inputs "
                            f"(quantize the model first)")


def _shape4(t):
    if len(t.shape) != 4:
        raise EdgeError(f"tensor {t.name}: expected a 4-D NCHW tensor, got shape {t.shape}")
    n, c, h, w = t.shape
    if n != 1:
        raise EdgeError(f"tensor {t.name}: batch {n}; the mcu target runs batch 1")
    return c, h, w


def pack_s4(w2d):
    """int8 weights [rows][K] with values in [-8, 7] -> uint8 [rows][ceil(K / 2)]: value k
    of a row in byte k // 2, low nibble first, the last high nibble 0 when K is odd (the
    layout of kernels/include/ek_s4.h)."""
    w = np.asarray(w2d, np.int8)
    rows, k = w.shape
    nib = np.zeros((rows, k + (k & 1)), np.uint8)
    nib[:, :k] = w.astype(np.uint8) & 0x0F
    return np.ascontiguousarray(nib[:, 0::2] | (nib[:, 1::2] << 4))


def weight_bits_of(node, g):
    """The bit width of a QConv/QGemm's weight values: QuantParams.bits, or the
    Tensor.tags["packing"] the quantizer sets; 8 when neither says less."""
    t = g.tensors[node.inputs[1]]
    bits = int(t.tags.get("packing", {}).get("bits", 8))
    if t.quant is not None:
        bits = min(bits, int(getattr(t.quant, "bits", 8) or 8))
    return bits


def _low_bit(node, g, w):
    """True when the layer's weights go out packed two per byte (s4 kernels); checks that
    the values really fit a nibble."""
    bits = weight_bits_of(node, g)
    if bits > 4 or bits == 1:  # 1-bit weights are the binary path's (b1 kernels), not s4
        return False
    lo, hi = int(np.min(w)), int(np.max(w))
    if lo < -8 or hi > 7:
        raise EdgeError(f"node {node.name}: weights are marked {bits}-bit but hold values in [{lo}, {hi}], "
                        f"outside the 4-bit range [-8, 7]")
    return True


def _conv_layer(node, g, isa, x, y):
    a = node.attrs
    w = g.const(node.inputs[1])
    if w is None:
        raise EdgeError(f"node {node.name}: QConv weights must be constant")
    bias = g.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    cin, ih, iw = _shape4(g.tensors[x])
    cout, oh, ow = _shape4(g.tensors[y])
    kh, kw = w.shape[2], w.shape[3]
    strides = list(a.get("strides") or [1, 1])
    pads = list(a.get("pads") or [0, 0, 0, 0])
    dil = list(a.get("dilations") or [1, 1])
    group = int(a.get("group", 1))
    params = dict(in_h=ih, in_w=iw, in_c=cin, out_h=oh, out_w=ow, out_c=cout, k_h=kh, k_w=kw,
                  stride_h=strides[0], stride_w=strides[1], pad_top=pads[0], pad_left=pads[1],
                  dil_h=dil[0], dil_w=dil[1], input_offset=-int(a["x_zp"]), output_offset=int(a["y_zp"]),
                  act_min=int(a["act_min"]), act_max=int(a["act_max"]))
    consts = {"mult": np.asarray(a["multiplier"], np.int32).reshape(-1),
              "shift": np.asarray(a["shift"], np.int32).reshape(-1)}
    if consts["mult"].size == 1 and cout > 1:  # per-tensor weights: broadcast to channels
        consts["mult"] = np.repeat(consts["mult"], cout)
        consts["shift"] = np.repeat(consts["shift"], cout)
    consts["bias"] = (np.zeros(cout, np.int32) if bias is None else np.asarray(bias, np.int32))
    if group == cin == cout and w.shape[1] == 1:
        kernel = "dwconv2d_s8"
        consts["w"] = np.ascontiguousarray(w[:, 0].transpose(1, 2, 0)).astype(np.int8)  # [kh][kw][C]
        macs = oh * ow * cout * kh * kw
        scratch = 0
    elif group == 1:
        consts["w"] = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).astype(np.int8)      # OHWI
        macs = oh * ow * cout * cin * kh * kw
        dtype = "s8"
        if _low_bit(node, g, w):
            # 4-bit (and 2-bit) weights: each OHWI row packed two per byte, half the flash
            consts["w"] = pack_s4(consts["w"].reshape(cout, -1))
            dtype = "s4"
        if kh == kw == 1 and not any(pads) and dil == [1, 1]:
            kernel = f"conv1x1_{dtype}"
            scratch = kernel_scratch_bytes(kernel, params)
        else:
            kernel = f"conv2d_{dtype}"
            scratch = kernel_scratch_bytes(kernel, params)
        if dtype == "s4":
            return Layer(node.name, node.op, kernel, isa, [x], y, params, consts, macs, scratch,
                         weight_bits=weight_bits_of(node, g))
    else:
        raise NoKernelError(f"node {node.name}: grouped convolution with {group} groups "
                        f"(not depthwise) has no mcu kernel")
    return Layer(node.name, node.op, kernel, isa, [x], y, params, consts, macs, scratch)


class NoKernelError(EdgeError):
    """This variant of an op has no hand-written kernel (lowering then tries TVM)."""


def _tvm_layer(node, g, ins, y):
    """A placeholder Layer for a node whose C TVM generates (filled in by _compile_tvm_layers)."""
    macs = 0
    if node.op == "QConv":
        w = g.tensors[node.inputs[1]].shape
        macs = int(np.prod(g.tensors[y].shape)) * int(np.prod(w[1:]))
    acts = ins[:1] if node.op == "QConv" else list(ins)   # QConv's other inputs are constants
    return Layer(node.name, node.op, "tvm", "tvm", acts, y, {}, {}, macs, 0,
                 n=int(np.prod(g.tensors[y].shape)))


def _compile_tvm_layers(graph, layers, tvm_nodes, root_of):
    """Generate the C of every TVM layer (one TVM module); fill in their consts and scratch."""
    if not tvm_nodes:
        return ""
    from ..codegen.tvm_c import lower_layers  # TVM is imported only when needed
    mod = lower_layers(graph, tvm_nodes, root_of=root_of)  # raises TvmMcuError naming the node it cannot compile
    by_name = {L.name: L for L in layers}
    for node in tvm_nodes:
        L = by_name[node.name]
        L.tvm = mod.layers[node.name]
        L.consts = dict(L.tvm.consts)
        L.scratch_bytes = _align16(L.tvm.workspace_bytes)
    return mod.source


def _align16(n):
    return (int(n) + 15) & ~15


def _fc_layer(node, g, isa, x, y, flat_chw):
    a = node.attrs
    w = g.const(node.inputs[1])
    if w is None:
        raise EdgeError(f"node {node.name}: QGemm weights must be constant")
    bias = g.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    m, k = w.shape
    xs = g.tensors[node.inputs[0]].shape   # the node's own view: the alias root may be [1, C, 1, 1]
    batch = int(np.prod(xs[:-1])) if len(xs) > 1 else 1
    w = np.asarray(w, np.int8)
    if flat_chw is not None:
        # The input was flattened from an NHWC activation: the device's bytes are in
        # (h, w, c) order, so permute the weight columns from the IR's (c, h, w) order.
        c, h, wd = flat_chw
        w = w.reshape(m, c, h, wd).transpose(0, 2, 3, 1).reshape(m, k)
    consts = {"w": np.ascontiguousarray(w),
              "bias": np.zeros(m, np.int32) if bias is None else np.asarray(bias, np.int32),
              "mult": np.asarray(a["multiplier"], np.int32).reshape(-1),
              "shift": np.asarray(a["shift"], np.int32).reshape(-1)}
    if consts["mult"].size == 1 and m > 1:
        consts["mult"] = np.repeat(consts["mult"], m)
        consts["shift"] = np.repeat(consts["shift"], m)
    params = dict(batch=batch, in_features=k, out_features=m, input_offset=-int(a["x_zp"]),
                  output_offset=int(a["y_zp"]), act_min=int(a["act_min"]), act_max=int(a["act_max"]))
    sparsity = g.tensors[node.inputs[1]].tags.get("sparsity", {})
    if sparsity.get("kind") == "block" and k % 4 == 0:
        from ..prune.formats import to_block_sparse
        row_ptr, col_idx, values = to_block_sparse(consts.pop("w"))
        consts.update(row_ptr=np.asarray(row_ptr, np.uint16), col_idx=np.asarray(col_idx, np.uint16),
                      values=np.asarray(values, np.int8).reshape(-1))
        return Layer(node.name, node.op, "fc_sparse_s8", isa, [x], y, params, consts, batch * m * k, 0)
    if _low_bit(node, g, consts["w"]):
        consts["w"] = pack_s4(consts["w"])  # rows of in_features, two per byte
        return Layer(node.name, node.op, "fc_s4", isa, [x], y, params, consts, batch * m * k,
                     kernel_scratch_bytes("fc_s4", params), weight_bits=weight_bits_of(node, g))
    return Layer(node.name, node.op, "fc_s8", isa, [x], y, params, consts, batch * m * k,
                 kernel_scratch_bytes("fc_s8", params))


def _pool_layer(node, g, isa, x, y):
    a = node.attrs
    c, ih, iw = _shape4(g.tensors[x])
    _, oh, ow = _shape4(g.tensors[y])
    if node.op == "QGlobalAvgPool":
        k, strides, pads = [ih, iw], [1, 1], [0, 0, 0, 0]
    else:
        k = list(a["kernel_shape"])
        strides = list(a.get("strides") or [1, 1])
        pads = list(a.get("pads") or [0, 0, 0, 0])
        if list(a.get("dilations") or [1, 1]) != [1, 1]:
            raise NoKernelError(f"node {node.name}: dilated pooling has no mcu kernel")
        if a.get("ceil_mode", 0):
            raise NoKernelError(f"node {node.name}: ceil_mode pooling has no mcu kernel")
    is_max = node.op == "MaxPool"
    if not is_max and any(pads) and not a.get("count_include_pad", 1):
        raise EdgeError(f"node {node.name}: average pooling with padding excluded from the count has no mcu kernel")
    params = dict(in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow, k_h=k[0], k_w=k[1],
                  stride_h=strides[0], stride_w=strides[1], pad_top=pads[0], pad_left=pads[1],
                  input_offset=0 if is_max else -int(a["x_zp"]), output_offset=0 if is_max else int(a["y_zp"]),
                  multiplier=0 if is_max else int(np.asarray(a["multiplier"]).reshape(-1)[0]),
                  shift=0 if is_max else int(np.asarray(a["shift"]).reshape(-1)[0]),
                  act_min=int(a.get("act_min", -128)), act_max=int(a.get("act_max", 127)))
    kernel = "maxpool_s8" if is_max else "avgpool_s8"
    return Layer(node.name, node.op, kernel, isa, [x], y, params, {}, oh * ow * c * k[0] * k[1], 0)


def _add_layer(node, g, isa, a_name, b_name, y):
    a = node.attrs
    sa, sb, sy = (g.tensors[t].shape for t in (a_name, b_name, y))
    if tuple(sa) != tuple(sb):
        raise NoKernelError(f"node {node.name}: QAdd with broadcasting ({sa} + {sb}) has no mcu kernel")
    params = dict(a_offset=-int(a["a_zp"]), a_multiplier=int(a["a_multiplier"]), a_shift=int(a["a_shift"]),
                  b_offset=-int(a["b_zp"]), b_multiplier=int(a["b_multiplier"]), b_shift=int(a["b_shift"]),
                  out_multiplier=int(np.asarray(a["multiplier"]).reshape(-1)[0]),
                  out_shift=int(np.asarray(a["shift"]).reshape(-1)[0]),
                  output_offset=int(a["y_zp"]), left_shift=20,
                  act_min=int(a["act_min"]), act_max=int(a["act_max"]))
    n = int(np.prod(sy))
    return Layer(node.name, node.op, "add_s8", isa, [a_name, b_name], y, params, {}, n, 0, n=n)


def _softmax_layer(node, g, isa, x, y):
    shape = g.tensors[x].shape
    if len(shape) == 4 and (shape[2] > 1 or shape[3] > 1):
        raise NoKernelError(f"node {node.name}: softmax over a spatial NCHW tensor has no mcu kernel")
    row_len = int(shape[-1] if len(shape) != 4 else shape[1])
    rows = int(np.prod(shape)) // row_len
    table = np.asarray(node.attrs["table"], np.uint32).reshape(-1)
    return Layer(node.name, node.op, "softmax_s8", isa, [x], y, dict(rows=rows, row_len=row_len),
                 {"table": table}, rows * row_len, 0)


def lower_mcu(graph, board, kernels="auto"):
    """Turn an integer graph into an McuProgram for `board` (see module doc)."""
    check_integer_only(graph)
    isa = pick_isa(board, kernels)
    alias, flat_from = {}, {}
    layers = []

    def root(t):
        while t in alias:
            t = alias[t]
        return t

    tvm_nodes = []
    for node in graph.nodes:
        ins = [root(i) for i in node.inputs if i]
        y = node.outputs[0]
        if node.op in TVM_ONLY_OPS:
            layers.append(_tvm_layer(node, graph, ins, y))
            tvm_nodes.append(node)
            continue
        if node.op in ALIAS_OPS:
            src = ins[0]
            alias[y] = src
            st = graph.tensors[node.inputs[0]]
            if len(st.shape) == 4 and st.shape[2] * st.shape[3] > 1 and len(graph.tensors[y].shape) != 4:
                flat_from[y] = tuple(st.shape[1:])
            elif node.inputs[0] in flat_from:
                flat_from[y] = flat_from[node.inputs[0]]
            continue
        try:
            if node.op == "QConv":
                layers.append(_conv_layer(node, graph, isa, ins[0], y))
            elif node.op == "QGemm":
                layers.append(_fc_layer(node, graph, isa, ins[0], y, flat_from.get(node.inputs[0])))
            elif node.op in ("MaxPool", "QAvgPool", "QGlobalAvgPool"):
                layers.append(_pool_layer(node, graph, isa, ins[0], y))
            elif node.op == "QAdd":
                layers.append(_add_layer(node, graph, isa, ins[0], ins[1], y))
            elif node.op == "QSoftmax":
                layers.append(_softmax_layer(node, graph, isa, ins[0], y))
        except NoKernelError:
            # No hand kernel for this variant of the op: TVM generates its C instead.
            layers.append(_tvm_layer(node, graph, ins, y))
            tvm_nodes.append(node)
    tvm_source = _compile_tvm_layers(graph, layers, tvm_nodes, root)
    for out in graph.outputs:
        if out in flat_from or root(out) != out and root(out) in flat_from:
            raise EdgeError(f"graph output {out!r} is a flattened spatial tensor; the mcu target cannot return it "
                            f"in NCHW order (add a layer after it or return the 4-D tensor)")

    # The memory plan runs over the compute layers only, on alias roots.
    from ..ir import Graph, Node
    view = Graph(graph.name)
    act = set()
    for L in layers:
        act.update(L.inputs)
        act.add(L.output)
    act.update(root(i) for i in graph.inputs)
    act.update(root(o) for o in graph.outputs)
    for t in act:
        view.tensors[t] = graph.tensors[t]
    view.inputs = [root(i) for i in graph.inputs]
    view.outputs = [root(o) for o in graph.outputs]
    view.nodes = [Node(L.name, L.op, list(L.inputs), [L.output]) for L in layers]
    sizes = {t: graph.tensors[t].nbytes for t in act}
    # Scratch (im2col columns) is planned inside the arena as a buffer that lives only
    # while its layer runs, so it shares bytes with activations that are dead by then.
    scratch_of = {L.name: L.scratch_bytes for L in layers}
    plan = plan_memory(view, size_of=lambda t: sizes[t.name], align=ARENA_ALIGN, inplace_ops=("QAdd",),
                       scratch_of=lambda n: scratch_of.get(n.name, 0))
    scratch = sum(plan.scratch_sizes.values())
    weight_bytes = sum(int(a.nbytes) for L in layers for a in L.consts.values())
    layouts = {t: ("NHWC" if len(graph.tensors[t].shape) == 4 else "") for t in act}

    def io(names):
        out = []
        for n in names:
            r = root(n)
            t = graph.tensors[n]
            # A flattened 1x1 map has the same bytes in NHWC and NCHW: its layout is flat.
            layout = layouts.get(r, "") if len(t.shape) == 4 else ""
            out.append((n, r, tuple(t.shape), layout, t.quant or graph.tensors[r].quant))
        return out

    prog = McuProgram(graph, board, layers, io(graph.inputs), io(graph.outputs), dict(plan.offsets), sizes,
                      int(plan.arena_bytes), int(plan.lower_bound), scratch, dict(plan.scratch_offsets), weight_bytes,
                      sum(L.macs for L in layers if L.op in ("QConv", "QGemm")), alias, layouts, plan=plan, tvm_source=tvm_source)
    check_fits(prog)
    return prog


# What every firmware needs besides the model, as LOWER bounds: the default 8 KB stack
# (edgesdk.package.arm.DEFAULT_STACK) and ~4 KB of startup/platform code. This early
# check only refuses models that cannot fit whatever the rest weighs; the exact
# verdict is the package stage's measuring link (FitError with the real sizes), so a
# generous guess here would wrongly refuse models that do fit.
FIRMWARE_RAM_OVERHEAD = 8 * 1024
FIRMWARE_FLASH_OVERHEAD = 4 * 1024


def check_fits(prog):
    """A model too large for the board is refused here, with numbers, before any compiler runs."""
    b = prog.board
    ram = prog.arena_bytes + FIRMWARE_RAM_OVERHEAD
    flash = prog.weight_bytes + FIRMWARE_FLASH_OVERHEAD
    if ram > b.ram.size:
        raise FitError(f"model {prog.graph.name} needs {ram // 1024} KB RAM (arena {prog.arena_bytes} B "
                       f"incl. scratch, stack {FIRMWARE_RAM_OVERHEAD // 1024} KB) "
                       f"but board {b.name} has {b.ram.size // 1024} KB")
    if flash > b.flash.size:
        raise FitError(f"model {prog.graph.name} needs {flash // 1024} KB flash (weights {prog.weight_bytes} B, "
                       f"startup and platform >= {FIRMWARE_FLASH_OVERHEAD // 1024} KB) but board {b.name} has "
                       f"{b.flash.size // 1024} KB")
