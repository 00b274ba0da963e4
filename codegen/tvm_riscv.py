"""TVM (Relax -> LLVM) for RISC-V single layers, measured against the hand RVV kernels.

    layer = {"op": "conv2d", "dtype": "f32", "cin": 16, "h": 16, "w": 16, "cout": 16, "k": 3,
             "stride": 1, "pads": [1, 1, 1, 1]}
    obj = build_layer(layer, "build/conv.o", xlen=32)        # riscv32 (or 64) LLVM object
    res = compare_layer(layer, vlen=128)   # both run bare metal under -icount, same data
    res["tvm_instructions"], res["hand_instructions"], res["max_abs_diff"]
    pick = choose_impl(layer)              # "tvm" or "hand" by measured instructions, recorded
    build_op("Sigmoid", {}, (1, 10), "f16", "sig.o", xlen=32, name="ek_tvm_0")
                                           # the model builder's path for ops with no hand kernel

The LLVM object exports `__tvm_ffi_<op>` with the tvm-ffi packed calling convention; a
generated C driver builds the DLTensor arguments by hand (no TVM runtime on the device)
and supplies the three symbols the object leaves open (error reporting, workspace).
Only this module (and codegen/) imports TVM.
"""
import hashlib
import json
import re
import tempfile
from pathlib import Path

from ..errors import EdgeError
from ..util.atomic import write_text

MATTR = ["+m", "+a", "+f", "+d", "+c", "+v", "+zfh", "+zvfh"]
OPS = ("conv2d", "dense")
DTYPES = {"f32": "float32", "f16": "float16"}


def target_for(xlen):
    """The TVM LLVM target dict for rv32 (bare metal, ilp32d) or rv64 (Linux, lp64d)."""
    if xlen == 64:
        return {"kind": "llvm", "mtriple": "riscv64-linux-gnu", "mattr": ["+64bit", *MATTR]}
    if xlen == 32:
        return {"kind": "llvm", "mtriple": "riscv32-unknown-elf", "mattr": MATTR, "mabi": "ilp32d"}
    raise EdgeError(f"xlen={xlen!r}: RISC-V TVM builds are riscv32 or riscv64")


def _norm(layer):
    """Check a layer spec and fill defaults; returns a new dict."""
    if not isinstance(layer, dict) or layer.get("op") not in OPS:
        raise EdgeError(f"layer spec field 'op' must be one of {', '.join(OPS)}; got {layer!r}")
    L = dict(layer)
    L.setdefault("dtype", "f32")
    if L["dtype"] not in DTYPES:
        raise EdgeError(f"layer spec field 'dtype' must be f32 or f16; got {L['dtype']!r}")
    need = ("cin", "h", "w", "cout", "k") if L["op"] == "conv2d" else ("batch", "in", "out")
    for k in need:
        if not isinstance(L.get(k), int) or L[k] <= 0:
            raise EdgeError(f"{L['op']} layer spec field '{k}' must be a positive int; got {L.get(k)!r}")
    if L["op"] == "conv2d":
        L.setdefault("stride", 1)
        L.setdefault("pads", [L["k"] // 2] * 4)
        t, l_, b, r = L["pads"]
        L["ho"] = (L["h"] + t + b - L["k"]) // L["stride"] + 1
        L["wo"] = (L["w"] + l_ + r - L["k"]) // L["stride"] + 1
        if L["ho"] <= 0 or L["wo"] <= 0:
            raise EdgeError(f"conv2d layer spec: kernel {L['k']} larger than the padded input")
        L["macs"] = L["cout"] * L["ho"] * L["wo"] * L["cin"] * L["k"] ** 2
    else:
        L["macs"] = L["batch"] * L["in"] * L["out"]
    return L


def layer_key(layer):
    L = _norm(layer)
    keep = {k: L[k] for k in sorted(L) if k not in ("macs", "ho", "wo")}
    return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def relax_module(layer):
    """A Relax IRModule with one function `main` computing the layer (no bias)."""
    from tvm import relax
    from tvm.script import relax as R
    L = _norm(layer)
    dt = DTYPES[L["dtype"]]
    bb = relax.BlockBuilder()
    if L["op"] == "conv2d":
        x = relax.Var("x", R.Tensor((1, L["cin"], L["h"], L["w"]), dt))
        w = relax.Var("w", R.Tensor((L["cout"], L["cin"], L["k"], L["k"]), dt))
        t, l_, b, r = L["pads"]
        with bb.function("main", [x, w]):
            with bb.dataflow():
                y = bb.emit(relax.op.nn.conv2d(x, w, strides=L["stride"], padding=[t, l_, b, r], out_dtype=dt))
                out = bb.emit_output(y)
            bb.emit_func_output(out)
    else:
        x = relax.Var("x", R.Tensor((L["batch"], L["in"]), dt))
        w = relax.Var("w", R.Tensor((L["out"], L["in"]), dt))
        from tvm import topi
        with bb.function("main", [x, w]):
            with bb.dataflow():
                # topi dense is one PrimFunc (relax.op.linear legalizes into transpose + matmul)
                y = bb.emit_te(topi.nn.dense, x, w, primfunc_name_hint="dense")
                out = bb.emit_output(y)
            bb.emit_func_output(out)
    return bb.get()


def build_layer(layer, out, xlen=32):
    """Relax -> LLVM object for riscv32/64; returns (object path, exported symbol)."""
    import tvm
    mod = relax_module(layer)
    ex = tvm.relax.build(mod, tvm.target.Target(target_for(xlen)))
    llvm = [m for m in ex.mod.imports if m.kind == "llvm"]
    if not llvm:
        raise RuntimeError("TVM produced no LLVM module for the layer")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.o")
    llvm[0].write_to_file(str(tmp))
    tmp.replace(out)
    # the one PrimFunc Relax legalized the op into (e.g. __tvm_ffi_conv2d, __tvm_ffi_matmul)
    names = [gv.name_hint for gv, f in mod_after_legalize(mod).functions.items() if gv.name_hint != "main"]
    return out, f"__tvm_ffi_{names[0]}"


# ops the model builder may hand to TVM when no hand kernel exists: op -> topi builder
def _softmax(node_attrs, ndim):
    from tvm import topi
    axis = int(node_attrs.get("axis", -1))
    return lambda x: topi.nn.softmax(x, axis=axis if axis >= 0 else ndim + axis)


def _unary(name):
    def make(node_attrs, ndim):
        from tvm import topi
        return getattr(topi, name)
    return make


TVM_OPS = {"Sigmoid": _unary("sigmoid"), "Tanh": _unary("tanh"), "Softmax": _softmax}


def build_op(op, attrs, shape, dtype, out, xlen, name):
    """One graph op (a TVM_OPS key) on one input of `shape` as an LLVM object for riscv
    xlen; the function is exported as __tvm_ffi_<name> (out = ffi(in)). Returns the path."""
    import tvm
    from tvm import relax
    from tvm.script import relax as R
    if op not in TVM_OPS:
        raise EdgeError(f"op {op!r} has no TVM path; TVM ops: {', '.join(TVM_OPS)}")
    fn = TVM_OPS[op](dict(attrs), len(shape))
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor(tuple(int(d) for d in shape), DTYPES[dtype]))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_te(fn, x, primfunc_name_hint=name)
            o = bb.emit_output(y)
        bb.emit_func_output(o)
    ex = tvm.relax.build(bb.get(), tvm.target.Target(target_for(xlen)))
    llvm = [m for m in ex.mod.imports if m.kind == "llvm"][0]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    llvm.write_to_file(str(out))
    return out


def mod_after_legalize(mod):
    from tvm import relax
    return relax.transform.LegalizeOps()(mod)


_DRIVER = r"""
/* Generated by edgesdk.codegen.tvm_riscv: one layer by TVM and by the hand kernels, same data. */
#include "ek_float.h"
#include "ek_rv_platform.h"
typedef {CT} T;
typedef struct { int32_t type_index; uint32_t pad; union { int64_t v_int64; void *v_ptr; } u; } ffi_any;
typedef struct { uint8_t code, bits; uint16_t lanes; } dl_dtype;
typedef struct { int32_t device_type, device_id; } dl_device;
typedef struct { void *data; dl_device device; int32_t ndim; dl_dtype dtype; int64_t *shape;
                 int64_t *strides; uint64_t byte_offset; } dl_tensor;
int {SYM}(void *self, const ffi_any *args, int32_t n, ffi_any *result);

/* what the TVM object leaves open: error reporting and workspace */
void TVMFFIErrorSetRaisedFromCStrParts(const char *kind, const char **parts, int32_t n) {
    ek_rv_puts("TVMERROR ");
    ek_rv_puts(kind);
    for (int i = 0; i < n; i++) if (parts[i]) ek_rv_puts(parts[i]);
    ek_rv_putc('\n');
    ek_rv_exit(5);
}
static void *ws_alloc(int dt, int di, uint64_t nbytes, int c, int b) {
    (void)dt; (void)di; (void)c; (void)b;
    return ek_rv_alloc((size_t)nbytes);
}
static int ws_free(int dt, int di, void *p) { (void)dt; (void)di; (void)p; return 0; }
void *(*__TVMBackendAllocWorkspace)(int, int, uint64_t, int, int) = ws_alloc;
int (*__TVMBackendFreeWorkspace)(int, int, void *) = ws_free;

static uint32_t rs = 777;
static T *fill(size_t n, float scale) {
    T *p = ek_rv_alloc(n * sizeof(T) + 64);
    for (size_t i = 0; i < n; i++) {
        rs = rs * 1664525u + 1013904223u;
        p[i] = (T)((float)(int32_t)(rs >> 8 << 8) / 2147483648.0f * scale);
    }
    return p;
}
static void tensor(dl_tensor *t, void *data, int ndim, int64_t *shape) {
    t->data = data; t->device.device_type = 1; t->device.device_id = 0; t->ndim = ndim;
    t->dtype.code = 2; t->dtype.bits = 8 * sizeof(T); t->dtype.lanes = 1;
    t->shape = shape; t->strides = 0; t->byte_offset = 0;
}
static void put(const char *k, uint64_t v) { ek_rv_puts(k); ek_rv_putc(' '); ek_rv_put_u64(v); ek_rv_putc('\n'); }

int main(void) {
{BODY}
    dl_tensor tx, tw, ty;
    tensor(&tx, x, {XN}, xs); tensor(&tw, w, {WN}, ws); tensor(&ty, y_tvm, {YN}, ys);
    ffi_any args[3], res;
    dl_tensor *ts[3] = {&tx, &tw, &ty};
    for (int i = 0; i < 3; i++) { args[i].type_index = 7; args[i].pad = 0; args[i].u.v_int64 = 0; args[i].u.v_ptr = ts[i]; }
    res.type_index = 0; res.pad = 0; res.u.v_int64 = 0;
    uint64_t t0 = ek_rv_instret();
    int rc = {SYM}(0, args, 3, &res);
    uint64_t t1 = ek_rv_instret();
    {HAND}
    uint64_t t2 = ek_rv_instret();
    {REF}
    uint64_t t3 = ek_rv_instret();
    float md = 0.0f, mr = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < ny; i++) {
        float a = (float)y_tvm[i], b = (float)y_hand[i], c = (float)y_ref[i];
        float d = a > b ? a - b : b - a, e = c > b ? c - b : b - c;
        if (d > md) md = d;
        if (e > mr) mr = e;
        if ((b > 0 ? b : -b) > mx) mx = b > 0 ? b : -b;
    }
    put("RC", (uint64_t)rc);
    put("TVM", t1 - t0);
    put("HAND", t2 - t1);
    put("REF", t3 - t2);
    put("DIFF_E9", (uint32_t)(md * 1e9f / (mx > 0 ? mx : 1))); /* 32-bit: no libgcc */
    put("REFDIFF_E9", (uint32_t)(mr * 1e9f / (mx > 0 ? mx : 1)));
    return 0;
}
"""


def driver_source(layer, sym):
    L = _norm(layer)
    sfx = L["dtype"]
    ct = "float" if sfx == "f32" else "_Float16"
    if L["op"] == "conv2d":
        t, l_, b, r = L["pads"]
        body = f"""
    ek_conv_params_t p = {{{L['cin']}, {L['h']}, {L['w']}, {L['cout']}, {L['k']}, {L['k']}, {L['stride']}, {L['stride']},
                          {t}, {l_}, {b}, {r}, 0, 0, EK_ACT_NONE, 0}};
    ek_conv_params_init(&p);
    size_t nx = (size_t){L['cin'] * L['h'] * L['w']}, nw = (size_t){L['cout'] * L['cin'] * L['k'] ** 2}, ny = (size_t)p.cout * p.ho * p.wo;
    T *x = fill(nx, 1.0f), *w = fill(nw, 0.3f), *y_tvm = fill(ny, 0), *y_hand = fill(ny, 0), *y_ref = fill(ny, 0);
    T *scratch = ek_rv_alloc(ek_conv2d_scratch_bytes_{sfx}_rvv(&p) + 64);
    int64_t xs[4] = {{1, {L['cin']}, {L['h']}, {L['w']}}}, ws[4] = {{{L['cout']}, {L['cin']}, {L['k']}, {L['k']}}};
    int64_t ys[4] = {{1, {L['cout']}, {L['ho']}, {L['wo']}}};"""
        hand = f"ek_conv2d_{sfx}_rvv(x, w, 0, y_hand, scratch, &p);"
        ref = f"ek_conv2d_{sfx}_ref(x, w, 0, y_ref, scratch, &p);"
        xn = wn = yn = 4
    else:
        body = f"""
    size_t nx = (size_t){L['batch'] * L['in']}, nw = (size_t){L['out'] * L['in']}, ny = (size_t){L['batch'] * L['out']};
    T *x = fill(nx, 1.0f), *w = fill(nw, 0.3f), *y_tvm = fill(ny, 0), *y_hand = fill(ny, 0), *y_ref = fill(ny, 0);
    int64_t xs[2] = {{{L['batch']}, {L['in']}}}, ws[2] = {{{L['out']}, {L['in']}}}, ys[2] = {{{L['batch']}, {L['out']}}};"""
        args = f"{L['batch']}, {L['in']}, {L['out']}, EK_ACT_NONE, 0"
        hand = f"ek_linear_{sfx}_rvv(x, w, 0, y_hand, {args});"
        ref = f"ek_linear_{sfx}_ref(x, w, 0, y_ref, {args});"
        xn = wn = yn = 2
    src = _DRIVER
    for k, v in {"{CT}": ct, "{SYM}": sym, "{BODY}": body, "{HAND}": hand, "{REF}": ref,
                 "{XN}": str(xn), "{WN}": str(wn), "{YN}": str(yn)}.items():
        src = src.replace(k, v)
    return src


def compare_layer(layer, vlen=128, timeout=300, workdir=None):
    """Build the layer with TVM and run it next to the hand RVV kernel and the scalar ref,
    bare metal on rv32 under -icount. Returns counts and the output differences."""
    from ..package.riscv import compile_baremetal, kernel_sources, run_baremetal
    L = _norm(layer)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(workdir or tmp)
        obj, sym = build_layer(L, d / "layer_tvm.o", xlen=32)
        drv = d / "tvm_layer_driver.c"
        drv.write_text(driver_source(L, sym))
        fam = "conv2d" if L["op"] == "conv2d" else "linear"
        srcs = [drv] + [p for p in kernel_sources("rvv", "ref", dtypes=(L["dtype"],))
                        if p.name.split("_")[1] in (fam, "matmul")]
        elf = compile_baremetal(srcs, d / "layer.elf", extra_objects=[obj])
        code, text = run_baremetal(elf, timeout=timeout, vlen=vlen)
    vals = dict((m[1], int(m[2])) for m in re.finditer(r"^(\w+) (\d+)$", text, re.M))
    if code != 0 or vals.get("RC", 1) != 0 or "TVM" not in vals:
        raise RuntimeError(f"TVM layer run failed (exit {code}): {text[-400:]}")
    return {"layer": {k: L[k] for k in L}, "macs": L["macs"], "vlen": vlen,
            "tvm_instructions": vals["TVM"], "hand_instructions": vals["HAND"],
            "ref_instructions": vals["REF"],
            "max_abs_diff": vals["DIFF_E9"] / 1e9,       # relative to max|output|
            "ref_max_abs_diff": vals["REFDIFF_E9"] / 1e9}


def default_record():
    import os
    return Path(os.environ.get("EDGESDK_CACHE", Path.home() / ".cache" / "edgesdk")) / "riscv_impl_choices.json"


def choose_impl(layer, vlen=128, record=None, tol=None):
    """Pick "tvm" or "hand" for a layer by measured instruction count (a TVM result that
    disagrees with the hand kernel beyond tol is never picked), and record the choice with
    its evidence in `record` (a JSON file keyed by layer). Returns the record entry."""
    L = _norm(layer)
    tol = tol if tol is not None else (2e-2 if L["dtype"] == "f16" else 1e-4)
    res = compare_layer(L, vlen=vlen)
    agree = res["max_abs_diff"] <= tol
    pick = "tvm" if agree and res["tvm_instructions"] < res["hand_instructions"] else "hand"
    entry = dict(res, choice=pick, tvm_agrees=agree, tol=tol,
                 reason=(f"tvm {res['tvm_instructions']} vs hand {res['hand_instructions']} instructions"
                         + ("" if agree else f"; tvm output differs by {res['max_abs_diff']:.2e}")))
    path = Path(record) if record else default_record()
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[layer_key(L)] = entry
    write_text(path, json.dumps(doc, indent=1, sort_keys=True))
    return entry
