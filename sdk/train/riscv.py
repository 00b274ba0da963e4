"""Transfer learning on RISC-V: the backbone runs in FP16 (or FP32) with the RVV float
kernels (kernels/ek_*_f16_rvv.c), the head trains in FP32 with the same training runtime
as the MCU (runtime/train/ek_train.c), bare metal on qemu-system-riscv32 -icount shift=0.

There is no streaming rig for RISC-V yet, so the whole fine-tuning loop runs inside one
program: the samples, labels and the per-epoch sample order are linked into the image
(.incbin of a binary blob), and the program prints per-epoch loss / accuracy, minstret
counts per phase, and the final head weights, which this module parses.

    res = finetune_riscv(model, x, y, x_test, y_test, epochs=3, example_inputs=x[:1])
    res["after_acc"], res["instructions_per_sample"], res["weights"]
"""
import hashlib
import re
import struct
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DataError, EdgeError
from ..paths import kernels_dir, runtime_dir

CTYPE = {"f16": "_Float16", "f32": "float"}
NPTYPE = {"f16": np.float16, "f32": np.float32}


# ---- backbone: the float graph as a sequence of kernel calls -------------------------

def _carray(name, arr, dtype):
    a = np.asarray(arr, np.float32).reshape(-1)
    if dtype == "f16":
        a = a.astype(np.float16).astype(np.float32)   # the exact FP16 values, printed as floats
    body = ",".join(repr(float(v)) for v in a)
    return f"static const T {name}[{a.size}] = {{{body}}};\n"


def emit_backbone(graph, dtype="f16"):
    """C for `static void backbone(const T *x, float *feature)`: one static buffer per
    tensor (reshapes alias), weights as const arrays; returns (code, n_in, n_feature)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EdgeError(f"model {graph.name}: RISC-V fine-tuning takes one input and one feature output")
    shape = {t: tuple(int(d) for d in graph.tensors[t].shape) for t in graph.tensors if graph.tensors[t].shape}
    size = {t: int(np.prod(s)) for t, s in shape.items()}
    buf = {graph.inputs[0]: "x"}
    decl, init, body, consts = [], [], [], []
    sfx = f"{dtype}_rvv"
    # FP16: the matmul reductions accumulate in FP32 (one rounding per output)
    acc = "EK_ACC32" if dtype == "f16" else "0"

    def out_buf(t):
        buf[t] = f"t{len(buf)}"
        decl.append(f"static T {buf[t]}[{size[t]}] __attribute__((aligned(64)));\n")
        return buf[t]

    for i, n in enumerate(graph.nodes):
        a = n.attrs
        x = buf.get(n.inputs[0]) if n.inputs else None
        if n.op == "Conv":
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                raise EdgeError(f"node {n.name}: dilated Conv is not supported by the RISC-V float kernels")
            w = graph.const(n.inputs[1])
            b = graph.const(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else np.zeros(w.shape[0], np.float32)
            _, cin, h, wd = shape[n.inputs[0]]
            group = int(a.get("group", 1))
            if group not in (1, cin) or (group == cin and w.shape[0] != cin and cin > 1):
                raise EdgeError(f"node {n.name}: grouped Conv (group={group}) is not supported")
            dw = group == cin and cin > 1
            pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
            act = {None: "EK_ACT_NONE", "relu": "EK_ACT_RELU", "relu6": "EK_ACT_RELU6"}.get(a.get("activation"))
            if act is None:
                raise EdgeError(f"node {n.name}: fused activation {a.get('activation')!r} is not supported")
            consts += [_carray(f"w{i}", w, dtype), _carray(f"b{i}", b, dtype)]
            y = out_buf(n.outputs[0])
            kind = "dwconv2d" if dw else "conv2d"
            decl.append(f"static ek_conv_params_t p{i} = {{ {cin}, {h}, {wd}, {w.shape[0]}, {w.shape[2]}, {w.shape[3]}, "
                        f"{a['strides'][0]}, {a['strides'][1]}, {pt}, {pl}, {pb}, {pr}, 0, 0, {act}, {acc} }};\n")
            init.append(f"    ek_conv_params_init(&p{i});\n"
                        f"    if (ek_{kind}_scratch_bytes_{sfx}(&p{i}) > need) need = ek_{kind}_scratch_bytes_{sfx}(&p{i});\n")
            body.append(f"    ek_{kind}_{sfx}({x}, w{i}, b{i}, {y}, (T *)scratch, &p{i});\n")
        elif n.op in ("MaxPool", "AveragePool", "GlobalAveragePool"):
            _, c, h, wd = shape[n.inputs[0]]
            if n.op == "GlobalAveragePool":
                kh, kw, sh, sw = h, wd, 1, 1
            else:
                if any(a.get("pads", [0, 0, 0, 0])) or a.get("ceil_mode", 0):
                    raise EdgeError(f"node {n.name}: padded / ceil-mode pooling is not supported by the float kernels")
                kh, kw = a["kernel_shape"]
                sh, sw = a.get("strides", [1, 1])
            y = out_buf(n.outputs[0])
            k = "maxpool2d" if n.op == "MaxPool" else "avgpool2d"
            decl.append(f"static ek_pool_params_t p{i} = {{ {c}, {h}, {wd}, {kh}, {kw}, {sh}, {sw}, 0, 0 }};\n")
            init.append(f"    ek_pool_params_init(&p{i});\n")
            body.append(f"    ek_{k}_{sfx}({x}, {y}, &p{i});\n")
        elif n.op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity"):
            buf[n.outputs[0]] = x          # NCHW with batch 1: the same bytes
        elif n.op == "Relu":
            y = out_buf(n.outputs[0])
            body.append(f"    ek_relu_{sfx}({x}, {y}, {size[n.outputs[0]]});\n")
        elif n.op == "Gemm":
            from .head import _gemm_weights
            w, b = _gemm_weights(graph, n)
            act = {None: "EK_ACT_NONE", "relu": "EK_ACT_RELU", "relu6": "EK_ACT_RELU6"}.get(a.get("activation"))
            if act is None:
                raise EdgeError(f"node {n.name}: fused activation {a.get('activation')!r} is not supported")
            consts += [_carray(f"w{i}", w, dtype), _carray(f"b{i}", b, dtype)]
            y = out_buf(n.outputs[0])
            body.append(f"    ek_linear_{sfx}({x}, w{i}, b{i}, {y}, 1, {w.shape[1]}, {w.shape[0]}, {act}, {acc});\n")
        elif n.op == "Add" and all(t in buf for t in n.inputs):
            y = out_buf(n.outputs[0])
            body.append(f"    ek_add_{sfx}({buf[n.inputs[0]]}, {buf[n.inputs[1]]}, {y}, {size[n.outputs[0]]});\n")
        else:
            raise EdgeError(f"node {n.name}: op {n.op} is not supported in a RISC-V fine-tuning backbone")
    feat = graph.outputs[0]
    n_feat = size[feat]
    code = ("".join(consts) + "".join(decl) +
            "static uint8_t *scratch;\n"
            "static void backbone_init(void)\n{\n    size_t need = 64;\n" + "".join(init) +
            "    scratch = ek_rv_alloc(need);\n}\n\n"
            "static void backbone(const T *x, float *feature)\n{\n" + "".join(body) +
            f"    for (int i = 0; i < {n_feat}; i++) feature[i] = (float){buf[feat]}[i];\n}}\n")
    return code, size[graph.inputs[0]], n_feat


# ---- the program ---------------------------------------------------------------------

_MAIN = r"""
/* The fine-tuning loop: SGD over embedded samples in the host's order, test accuracy per
 * epoch, minstret per phase; output parsed by edgesdk.train.riscv. */
extern const uint8_t ek_data[];
#define X_TRAIN ((const T *)(ek_data + OFF_XTRAIN))
#define Y_TRAIN (ek_data + OFF_YTRAIN)
#define X_TEST ((const T *)(ek_data + OFF_XTEST))
#define Y_TEST (ek_data + OFF_YTEST)
#define ORDER ((const uint16_t *)(ek_data + OFF_ORDER))
static float feature[N_FEAT];

static int eval_test(uint64_t *instr)
{
    int correct = 0;
    for (int i = 0; i < N_TEST; i++) {
        uint8_t pred;
        uint64_t t0 = ek_rv_instret();
        backbone(X_TEST + (size_t)i * N_IN, feature);
        ek_train_forward_backward(feature, Y_TEST[i], 0, &pred);
        *instr += ek_rv_instret() - t0;
        correct += pred == Y_TEST[i];
    }
    return correct;
}

static void put_i(const char *tag, uint64_t v) { ek_rv_puts(tag); ek_rv_put_u64(v); }

int main(void)
{
    uint64_t ev = 0;
    backbone_init();
    ek_train_boot();
    ek_train_configure(LR, MOMENTUM, WEIGHT_DECAY, BIAS_ONLY);
    put_i("BEFORE ", (uint64_t)eval_test(&ev)); ek_rv_puts("\n");
    for (int e = 0; e < EPOCHS; e++) {
        uint64_t t_bb = 0, t_head = 0, t_apply = 0;
        double loss_sum = 0.0;
        int correct = 0;
        for (int i = 0; i < N_TRAIN; i += BATCH) {
            int n = N_TRAIN - i < BATCH ? N_TRAIN - i : BATCH;
            for (int k = 0; k < n; k++) {
                int j = ORDER[(size_t)e * N_TRAIN + i + k];
                uint8_t pred;
                uint64_t t0 = ek_rv_instret();
                backbone(X_TRAIN + (size_t)j * N_IN, feature);
                uint64_t t1 = ek_rv_instret();
                loss_sum += ek_train_forward_backward(feature, Y_TRAIN[j], 1, &pred);
                t_head += ek_rv_instret() - t1;
                t_bb += t1 - t0;
                correct += pred == Y_TRAIN[j];
            }
            uint64_t t2 = ek_rv_instret();
            ek_train_apply((uint32_t)n);
            t_apply += ek_rv_instret() - t2;
        }
        put_i("EPOCH ", (uint64_t)e + 1); put_i(" ", (uint32_t)(loss_sum * 1e6 / N_TRAIN + 0.5));
        put_i(" ", (uint64_t)correct); put_i(" ", t_bb); put_i(" ", t_head); put_i(" ", t_apply);
        put_i(" ", (uint64_t)eval_test(&ev)); ek_rv_puts("\n");
    }
    ek_rv_puts("WEIGHTS");
    for (uint32_t l = 0; l < ek_train_model.n_layers; l++) {
        const ek_train_layer_t *L = &ek_train_model.layers[l];
        for (uint32_t i = 0; i < (uint32_t)L->in * L->out; i++) { ek_rv_putc(' '); ek_rv_put_hex32(*(const uint32_t *)&L->w[i]); }
        for (uint32_t i = 0; i < L->out; i++) { ek_rv_putc(' '); ek_rv_put_hex32(*(const uint32_t *)&L->b[i]); }
    }
    ek_rv_puts("\nDONE\n");
    ek_rv_exit(0);
}

/* ek_hil_codec.c (linked for the checkpoints' CRC-32) also holds the frame sender */
void ek_hil_putc(uint8_t c) { ek_rv_putc((char)c); }
"""


def _blob(parts):
    """Concatenate arrays 64-byte aligned; returns (bytes, {name: offset})."""
    out, offs = bytearray(), {}
    for name, arr in parts:
        out += bytes((-len(out)) % 64)
        offs[name] = len(out)
        out += np.ascontiguousarray(arr).tobytes()
    return bytes(out), offs


def build_program(graph, x, y, x_test, y_test, orders, out_dir, *, last_k=1, mode="last", dtype="f16",
                  batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0, xlen=32):
    """Write and compile the fine-tuning program; returns (elf, head, backbone graph)."""
    from ..codegen.mcu.train_emit import emit_train_head
    from ..package.riscv import compile_baremetal, kernel_sources
    from .head import split_head, training_memory
    if dtype not in CTYPE:
        raise EdgeError(f"dtype {dtype!r}: the RISC-V backbone runs f16 or f32")
    backbone, head, _feat = split_head(graph, last_k)
    code, n_in, n_feat = emit_backbone(backbone, dtype)
    if int(np.prod(x.shape[1:])) != n_in:
        raise DataError(f"samples have shape {tuple(x.shape[1:])}, the model takes {n_in} values")
    if n_feat != head[0].w.shape[1]:
        raise EdgeError(f"backbone feature of {n_feat} values, head takes {head[0].w.shape[1]}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npt = NPTYPE[dtype]
    blob, offs = _blob([("XTRAIN", x.astype(npt)), ("YTRAIN", y.astype(np.uint8)), ("XTEST", x_test.astype(npt)),
                        ("YTEST", y_test.astype(np.uint8)), ("ORDER", np.asarray(orders, np.uint16))])
    (out_dir / "data.bin").write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()
    # the digest in the text makes the object cache (keyed by source text) see new data
    (out_dir / "data.S").write_text(f"/* data {digest} */\n.section .rodata\n.balign 64\n.global ek_data\n"
                                    f"ek_data:\n.incbin \"{(out_dir / 'data.bin').resolve()}\"\n")
    head_c = emit_train_head(head, 1.0, 0, mode, training_memory(head, mode), noinit=False)
    (out_dir / "train_head.c").write_text(head_c)
    defs = {"N_IN": n_in, "N_FEAT": n_feat, "N_TRAIN": len(x), "N_TEST": len(x_test), "EPOCHS": len(orders),
            "BATCH": batch_size, "LR": f"{lr!r}f", "MOMENTUM": f"{momentum!r}f", "WEIGHT_DECAY": f"{weight_decay!r}f",
            "BIAS_ONLY": int(mode == "bias"), **{f"OFF_{k}": v for k, v in offs.items()}}
    prog = ("/* Generated by edgesdk.train.riscv: FP backbone + FP32 trainable head, fine-tuned in place. */\n"
            "#include <stdint.h>\n#include <stddef.h>\n#include \"ek_float.h\"\n#include \"ek_rv_platform.h\"\n"
            "#include \"ek_train.h\"\n" + "".join(f"#define {k} {v}\n" for k, v in defs.items()) +
            f"typedef {CTYPE[dtype]} T;\n\n" + code + _MAIN)
    (out_dir / "finetune.c").write_text(prog)
    k = kernels_dir()
    srcs = [out_dir / "finetune.c", out_dir / "train_head.c", out_dir / "data.S",
            runtime_dir() / "train" / "ek_train.c", runtime_dir() / "hil" / "ek_hil_codec.c",
            k / "ek_linear_f32_ref.c", k / "ek_matmul_f32_ref.c", k / "ek_train_f32_ref.c",
            *kernel_sources("rvv", dtypes=(dtype,))]
    ram = 64 * 1024 * 1024
    elf = compile_baremetal(srcs, out_dir / "finetune.elf", xlen=xlen, defines={"EK_TRAIN_NO_HIL": None},
                            include_dirs=[runtime_dir() / "train", runtime_dir() / "hil", runtime_dir() / "include"],
                            ram_bytes=ram)
    return elf, head, backbone


def parse_output(text, n_train, n_test, head):
    if "DONE" not in text:
        tail = " | ".join(text.strip().splitlines()[-3:])
        raise EdgeError(f"RISC-V fine-tuning program did not finish: {tail or '(no output)'}")
    before = int(re.search(r"^BEFORE (\d+)", text, re.M).group(1))
    hist = []
    for m in re.finditer(r"^EPOCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", text, re.M):
        e, loss, correct, t_bb, t_head, t_apply, test = map(int, m.groups())
        hist.append({"epoch": e, "loss": loss / 1e6, "train_acc": correct / n_train, "test_acc": test / n_test,
                     "instr_backbone": t_bb, "instr_head": t_head, "instr_apply": t_apply})
    words = re.search(r"^WEIGHTS(.*)$", text, re.M).group(1).split()
    raw = np.frombuffer(b"".join(struct.pack("<I", int(w, 16)) for w in words), np.float32)
    weights, pos = [], 0
    for L in head:
        o, n = L.w.shape
        weights.append((raw[pos:pos + o * n].reshape(o, n).copy(), raw[pos + o * n:pos + o * n + o].copy()))
        pos += o * n + o
    return before / n_test, hist, weights


def finetune_riscv(model, x, y, x_test, y_test, *, epochs=3, batch_size=16, lr=0.05, momentum=0.9,
                   weight_decay=0.0, last_k=1, mode="last", dtype="f16", seed=0, vlen=128, xlen=32,
                   example_inputs=None, input_shapes=None, workdir=None, timeout=600):
    """Fine-tune the head of `model` inside a bare-metal RISC-V program (backbone in
    `dtype` with the RVV kernels, head FP32). Returns a dict with before/after test
    accuracy, per-epoch history, instruction counts per sample, and the final weights."""
    from ..package.riscv import run_baremetal
    from ..pipeline import load_graph, prepare_graph
    from .device import check_data
    graph = prepare_graph(load_graph(model, input_shapes, example_inputs))
    x = np.asarray(x, np.float32)
    x_test = np.asarray(x_test, np.float32)
    n_classes = None
    rng = np.random.default_rng(seed)                   # the same orders as the host runs
    orders = np.stack([rng.permutation(len(x)) for _ in range(epochs)])
    if len(x) > 65535:
        raise DataError(f"{len(x)} samples: the RISC-V program indexes at most 65535")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="ek_rv_finetune_")
        workdir = tmp.name
    try:
        from .head import split_head
        _, head0, _ = split_head(graph, last_k)
        n_classes = head0[-1].w.shape[0]
        x, y = check_data(x, y, n_classes)
        x_test, y_test = check_data(x_test, y_test, n_classes)
        elf, head, backbone = build_program(graph, x, y, x_test, y_test, orders, workdir, last_k=last_k, mode=mode,
                                            dtype=dtype, batch_size=batch_size, lr=lr, momentum=momentum,
                                            weight_decay=weight_decay, xlen=xlen)
        code, text = run_baremetal(elf, timeout=timeout, vlen=vlen, xlen=xlen)
        if code != 0:
            raise EdgeError(f"RISC-V fine-tuning program exited with {code}: {text.strip().splitlines()[-1:]}")
        before, hist, weights = parse_output(text, len(x), len(x_test), head)
    finally:
        if tmp is not None:
            tmp.cleanup()
    first = hist[0]
    per_sample = (first["instr_backbone"] + first["instr_head"] + first["instr_apply"]) / len(x)
    return {"before_acc": before, "after_acc": hist[-1]["test_acc"], "history": hist, "weights": weights,
            "head": head, "backbone": backbone, "orders": orders, "dtype": dtype, "vlen": vlen,
            "instructions_per_sample": per_sample, "instructions_backbone_per_sample": first["instr_backbone"] / len(x),
            "instructions_head_per_sample": (first["instr_head"] + first["instr_apply"]) / len(x)}


def float_features(backbone, x, batch=64):
    """The backbone's FP32 outputs for samples x, by the numpy reference interpreter."""
    from ..reference import run
    name, out = backbone.inputs[0], backbone.outputs[0]
    shape = tuple(int(d) for d in backbone.tensors[name].shape[1:])
    feats = []
    for i in range(0, len(x), batch):
        xb = np.asarray(x[i:i + batch], np.float32).reshape(-1, *shape)
        try:
            feats.append(np.asarray(run(backbone, {name: xb})[out]).reshape(len(xb), -1))
        except Exception:  # a graph traced with batch 1 may pin its reshapes to it: go one by one
            feats += [np.asarray(run(backbone, {name: xb[j:j + 1]})[out]).reshape(1, -1) for j in range(len(xb))]
    return np.concatenate(feats).astype(np.float32)


def host_reference(res, x, y, x_test, y_test, *, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0,
                   mode="last"):
    """The same fine-tuning in torch on the FP32 backbone's features, with the RISC-V
    run's sample orders: the yardstick for `finetune_riscv`'s result `res`."""
    from .host import finetune_features, torch_head
    f = float_features(res["backbone"], x)
    ft = float_features(res["backbone"], x_test)
    return finetune_features(torch_head(res["head"]), f, y, ft, y_test, res["orders"], batch_size=batch_size, lr=lr,
                             momentum=momentum, weight_decay=weight_decay, bias_only=mode == "bias")
