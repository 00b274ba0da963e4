"""The float RISC-V kernels (FP32/FP16, scalar ref and RVV) against torch, under qemu-riscv64.

Every case runs on all four variants at VLEN 128, and the RVV variants again at VLEN 512
(and FP16 at 256): the kernels are vector-length agnostic. The oracle is torch in float64 on the
same inputs (rounded to FP16 first for the FP16 variants); gradients come from autograd.
Errors are measured as max|out - ref| / max|ref|.

FP16 tolerances (documented in kernels/include/ek_float.h): forward with FP16
accumulation 5e-3 (K <= 150), with FP32 accumulation (EK_ACC32) 1e-3, gradients (EK_ACC32) 2e-3.
"""
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgesdk.errors import EdgeError
from edgesdk.kernelcheck.riscv import (ACC32, ACCUMULATE, TRANS_A, FCase, conv_params, f32_bits,
                                       pool_params, run_cases)

pytestmark = pytest.mark.skipif(not (shutil.which("clang-19") and shutil.which("qemu-riscv64")),
                                reason="clang-19 and qemu-riscv64 are needed for the RISC-V kernels")

TOL_F32 = 2e-6
TOL_F16 = 5e-3        # FP16 accumulation (K <= 150)
TOL_F16_ACC32 = 1e-3  # FP32 accumulation: only the output rounding
TOL_F16_GRAD = 2e-3
T64 = torch.float64


def r16(a):
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def t(a, grad=False):
    return torch.tensor(np.asarray(a, np.float64), dtype=T64, requires_grad=grad)


def npy(x):
    return x.detach().numpy()


# ---- case builders: (name, op, params, inputs, oracle(inputs) -> [expected], tol16) ----------

def matmul_cases(rng):
    out = []
    for flags in (0, ACCUMULATE, TRANS_A, ACC32, TRANS_A | ACCUMULATE | ACC32):
        M, N, K = 7, 37, 19
        A = rng.standard_normal((K, M) if flags & TRANS_A else (M, K))
        B = rng.standard_normal((K, N))
        C = rng.standard_normal((M, N))
        lda = M if flags & TRANS_A else K

        def oracle(ins, flags=flags):
            a = ins[0].T if flags & TRANS_A else ins[0]
            return [a.astype(np.float64) @ ins[1] + (ins[2] if flags & ACCUMULATE else 0)]
        out.append((f"matmul_flags{flags}", "matmul", [M, N, K, lda, N, N, flags], [A, B, C], oracle,
                    TOL_F16_ACC32 if flags & ACC32 else TOL_F16))
    for flags in (0, ACCUMULATE | ACC32):
        M, N, K = 5, 7, 150
        A, B, C = rng.standard_normal((M, K)), rng.standard_normal((N, K)), rng.standard_normal((M, N))
        out.append((f"matmul_nt_flags{flags}", "matmul_nt", [M, N, K, K, K, N, flags], [A, B, C],
                    lambda ins, flags=flags: [ins[0].astype(np.float64) @ ins[1].T + (ins[2] if flags & ACCUMULATE else 0)],
                    TOL_F16_ACC32 if flags & ACC32 else TOL_F16))
    return out


CONVS = [  # cin, h, w, cout, k, stride, pads(t,l,b,r), act
    (3, 11, 9, 8, 3, (1, 1), (1, 1, 1, 1), "none"),
    (5, 12, 10, 7, 3, (2, 2), (1, 0, 1, 1), "relu"),
    (16, 6, 7, 12, 1, (1, 1), (0, 0, 0, 0), "relu6"),
    (4, 9, 13, 6, 5, (1, 2), (2, 2, 2, 2), "none"),
    # stride 1 with wo == w takes the RVV "flat" im2col/col2im path (shifted plane copies)
    (2, 7, 6, 5, 3, (1, 1), (2, 2, 0, 0), "none"),
    (3, 8, 8, 4, 5, (1, 1), (2, 2, 2, 2), "relu"),
    (2, 2, 2, 3, 3, (1, 1), (1, 1, 1, 1), "none"),
    # planes of more than EK_CONV_BAND_PIXELS outputs: conv2d works in several row bands
    (3, 40, 20, 4, 3, (1, 1), (1, 1, 1, 1), "relu"),
    (2, 50, 30, 3, 3, (2, 2), (1, 0, 1, 1), "none"),
]


def _random_convs(n, seed=99):
    """Odd shapes for the edges of the flat and row-segment paths: strides 1-3, pads up to
    k-1 on each side independently, non-square planes (kernels are square here)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        k = int(rng.choice([1, 2, 3, 5]))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pads = tuple(int(rng.integers(0, k)) for _ in range(4))
        h, w = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        if h + pads[0] + pads[2] < k or w + pads[1] + pads[3] < k:
            continue
        out.append((int(rng.integers(1, 6)), h, w, int(rng.integers(1, 8)), k, s, pads,
                    str(rng.choice(["none", "relu", "relu6"]))))
    return out


CONVS += _random_convs(5)


def _pad(x, pads):
    t_, l_, b_, r_ = pads
    return F.pad(x, (l_, r_, t_, b_))


def conv_cases(rng):
    out = []
    for idx, (cin, h, w, cout, k, s, pads, act) in enumerate(CONVS):
        for dw in (False, True):
            co = cin if dw else cout
            groups = cin if dw else 1
            x = rng.standard_normal((cin, h, w))
            wt = rng.standard_normal((co, 1 if dw else cin, k, k)) / np.sqrt(k * k * (1 if dw else cin))
            b = rng.standard_normal(co)
            ho = (h + pads[0] + pads[2] - k) // s[0] + 1
            wo = (w + pads[1] + pads[3] - k) // s[1] + 1
            dy = rng.standard_normal((co, ho, wo))
            name = f"{'dw' if dw else ''}conv{idx}"
            op = "dwconv2d" if dw else "conv2d"

            def fwd(xx, ww, bb, s=s, pads=pads, groups=groups):
                return F.conv2d(_pad(xx[None], pads), ww, bb, stride=s, groups=groups)[0]

            def oracle_fwd(ins, fwd=fwd, act=act):
                y = fwd(t(ins[0]), t(ins[1]), t(ins[2]))
                y = y.clamp(min=0) if act != "none" else y
                y = y.clamp(max=6) if act == "relu6" else y
                return [npy(y)]

            def oracle_grads(ins, fwd=fwd, which="w"):
                xx, ww, bb = t(ins[0], True), t(ins[1], True), t(ins[2], True)
                fwd(xx, ww, bb).backward(t(ins[3]))
                return [npy(ww.grad), npy(bb.grad)] if which == "w" else [npy(xx.grad)]

            for flags, tol in ((0, TOL_F16), (ACC32, TOL_F16_ACC32)):
                if dw and flags:
                    continue
                p = conv_params(cin, h, w, co, k, k, s, pads, act, flags)
                out.append((f"{name}_fwd_f{flags}", op, p, [x, wt, b], oracle_fwd, tol))
            p = conv_params(cin, h, w, co, k, k, s, pads, "none", ACC32)
            out.append((f"{name}_bww", op + "_bww", p, [x, dy, np.zeros_like(wt), np.zeros(co)],
                        lambda ins, g=oracle_grads, w_=wt, b_=b: g([ins[0], w_, b_, ins[1]], which="w"),
                        TOL_F16_GRAD))
            # gradient accumulation: dw += ..., db += ...
            dw0, db0 = rng.standard_normal(wt.shape), rng.standard_normal(co)
            p = conv_params(cin, h, w, co, k, k, s, pads, "none", ACC32 | ACCUMULATE)
            out.append((f"{name}_bww_accumulate", op + "_bww", p, [x, dy, dw0, db0],
                        lambda ins, g=oracle_grads, w_=wt, b_=b: [a + b0 for a, b0 in zip(
                            g([ins[0], w_, b_, ins[1]], which="w"), ins[2:4])], TOL_F16_GRAD))
            out.append((f"{name}_bwx", op + "_bwx", p, [dy, wt],
                        lambda ins, g=oracle_grads, x_=x, b_=b: g([x_, ins[1], b_, ins[0]], which="x"),
                        TOL_F16_GRAD))
            out.append((f"{name}_bwx_acc16", op + "_bwx", conv_params(cin, h, w, co, k, k, s, pads), [dy, wt],
                        lambda ins, g=oracle_grads, x_=x, b_=b: g([x_, ins[1], b_, ins[0]], which="x"),
                        TOL_F16))
    # im2col / col2im against torch unfold / fold, and a pointwise conv
    cin, h, w, k, pads = 3, 9, 7, 3, (2, 1, 0, 1)
    x = rng.standard_normal((cin, h, w))
    out.append(("im2col_flat", "im2col", conv_params(cin, h, w, 1, k, k, (1, 1), pads), [x],
                lambda ins, pads=pads, k=k: [npy(F.unfold(_pad(t(ins[0])[None], pads), k)[0])], 0))
    cin, h, w, k, s, pads = 3, 8, 7, 3, (2, 1), (1, 1, 0, 2)
    x = rng.standard_normal((cin, h, w))
    p = conv_params(cin, h, w, 1, k, k, s, pads)
    out.append(("im2col", "im2col", p, [x], lambda ins: [npy(F.unfold(_pad(t(ins[0])[None], pads), k, stride=s)[0])], 0))
    ho, wo = (h + pads[0] + pads[2] - k) // s[0] + 1, (w + pads[1] + pads[3] - k) // s[1] + 1
    cols = rng.standard_normal((cin * k * k, ho * wo))

    def fold(ins):
        full = F.fold(t(ins[0])[None], (h + pads[0] + pads[2], w + pads[1] + pads[3]), k, stride=s)[0]
        return [npy(full[:, pads[0]:pads[0] + h, pads[1]:pads[1] + w])]
    out.append(("col2im", "col2im", p, [cols], fold, TOL_F16))
    xp, wp, bp = rng.standard_normal((20, 30)), rng.standard_normal((9, 20)), rng.standard_normal(9)
    out.append(("pwconv2d", "pwconv2d", [20, 9, 30, 1, 0], [xp, wp, bp],
                lambda ins: [np.maximum(ins[1].astype(np.float64) @ ins[0] + ins[2][:, None], 0)], TOL_F16))
    return out


def linear_cases(rng):
    bt, n_in, n_out = 3, 37, 11
    x, w, b = rng.standard_normal((bt, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    dy = rng.standard_normal((bt, n_out))

    def grads(ins):
        xx, ww, bb = t(ins[0], True), t(ins[1], True), t(ins[2], True)
        F.linear(xx, ww, bb).backward(t(ins[3]))
        return xx.grad, ww.grad, bb.grad
    return [
        ("linear", "linear", [bt, n_in, n_out, 1, 0], [x, w, b],
         lambda ins: [npy(F.relu(F.linear(t(ins[0]), t(ins[1]), t(ins[2]))))], TOL_F16),
        ("linear_acc32", "linear", [bt, n_in, n_out, 0, ACC32], [x, w, b],
         lambda ins: [npy(F.linear(t(ins[0]), t(ins[1]), t(ins[2])))], TOL_F16_ACC32),
        ("linear_bww", "linear_bww", [bt, n_in, n_out, 0, ACC32], [x, dy, np.zeros_like(w), np.zeros(n_out)],
         lambda ins: [npy(g) for g in grads([ins[0], w, b, ins[1]])[1:]], TOL_F16_GRAD),
        ("linear_bwx", "linear_bwx", [bt, n_in, n_out, 0, ACC32], [dy, w],
         lambda ins: [npy(grads([x, ins[1], b, ins[0]])[0])], TOL_F16_GRAD),
    ]


def pool_cases(rng):
    out = []
    for c, h, w, k, s in ((3, 8, 10, 2, 2), (2, 9, 9, 3, 2), (4, 7, 7, 7, 7), (2, 6, 9, 2, 1)):
        x = rng.standard_normal((c, h, w))
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        dy = rng.standard_normal((c, ho, wo))
        p = pool_params(c, h, w, k, k, s, s)
        for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
            out.append((f"{kind}pool_{h}x{w}k{k}s{s}", f"{kind}pool2d", p, [x],
                        lambda ins, fn=fn, k=k, s=s: [npy(fn(t(ins[0])[None], k, s)[0])], TOL_F16))

            def bw(ins, fn=fn, k=k, s=s):
                xx = t(ins[0], True)
                fn(xx[None], k, s)[0].backward(t(ins[1]))
                return [npy(xx.grad)]
            if kind == "max":
                out.append((f"maxpool_bw_{h}x{w}k{k}s{s}", "maxpool2d_bw", p, [x, dy], bw, TOL_F16))
            else:
                out.append((f"avgpool_bw_{h}x{w}k{k}s{s}", "avgpool2d_bw", p, [dy],
                            lambda ins, bw=bw, x=x: bw([x, ins[0]]), TOL_F16))
    return out


def act_cases(rng):
    n = 203
    x = rng.uniform(-8, 8, n)
    x = x[np.abs(x - np.round(x)) > 0.05]  # no ties with the kinks at 0, +-3, 6
    n = x.size
    dy = rng.standard_normal(n)
    fns = {"relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish}
    out = []
    for name, fn in fns.items():
        out.append((name, name, [n], [x], lambda ins, fn=fn: [npy(fn(t(ins[0])))], 4e-3))

        def bw(ins, fn=fn):
            xx = t(ins[0], True)
            fn(xx).backward(t(ins[1]))
            return [npy(xx.grad)]
        out.append((name + "_bw", name + "_bw", [n], [x, dy], bw, 4e-3))
    return out


def train_cases(rng):
    n = 77
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    w, g = rng.standard_normal(n), rng.standard_normal(n)
    logits = rng.standard_normal(10) * 3
    label = 4

    def xent(ins, scale):
        z = t(ins[0], True)
        loss = F.cross_entropy(z[None], torch.tensor([label]))
        loss.backward()
        return [npy(z.grad) * scale, np.array([loss.item()])]
    bad = g.copy()
    bad[50] = np.inf
    return [
        ("add", "add", [n], [a, b], lambda ins: [ins[0] + ins[1]], 2e-3),
        ("sgd", "sgd", [n, f32_bits(0.01 / 64)], [w, g], lambda ins: [ins[0] - 0.01 / 64 * ins[1]], 2e-3),
        ("all_finite_yes", "all_finite", [n], [g], lambda ins: [np.array([1.0])], 0),
        ("all_finite_inf", "all_finite", [n], [bad], lambda ins: [np.array([0.0])], 0),
        ("xent", "softmax_xent", [10, label, f32_bits(1.0)], [logits], lambda ins: xent(ins, 1.0), 4e-3),
        ("xent_scaled", "softmax_xent", [10, label, f32_bits(256.0)], [logits], lambda ins: xent(ins, 256.0), 4e-3),
    ]


def all_cases():
    rng = np.random.default_rng(1234)
    cases = (matmul_cases(rng) + conv_cases(rng) + linear_cases(rng) + pool_cases(rng) + act_cases(rng)
             + train_cases(rng))
    cases.append(("to_nhwc", "to_nhwc", [5, 3, 7], [rng.standard_normal((5, 3, 7))],
                  lambda ins: [ins[0].reshape(5, 3, 7).transpose(1, 2, 0)], 0))
    cases.append(("to_nchw", "to_nchw", [5, 3, 7], [rng.standard_normal((3, 7, 5))],
                  lambda ins: [ins[0].reshape(3, 7, 5).transpose(2, 0, 1)], 0))
    return cases


CASES = all_cases()
RUNS = [(128, v) for v in ("f32_ref", "f32_rvv", "f16_ref", "f16_rvv")] + \
       [(256, "f16_rvv"), (512, "f32_rvv"), (512, "f16_rvv")]


@pytest.fixture(scope="module")
def results():
    """Run every case on every variant: one qemu-riscv64 process per VLEN."""
    res = {}
    for vlen in sorted({vl for vl, _ in RUNS}):
        batch, keys = [], []
        for vl, variant in RUNS:
            if vl != vlen:
                continue
            for name, op, params, ins, _oracle, _tol in CASES:
                ins_v = [r16(a) if variant.startswith("f16") else np.asarray(a, np.float32) for a in ins]
                batch.append(FCase(op, variant, params, ins_v))
                keys.append((vlen, variant, name))
        for k, outs in zip(keys, run_cases(batch, vlen=vlen)):
            res[k] = outs
    return res


_ORACLE = {}


def expected_of(case, f16):
    """The oracle's answer, once per case and input rounding (shared by the variants)."""
    name, _op, _params, ins, oracle, _tol = case
    if (name, f16) not in _ORACLE:
        _ORACLE[(name, f16)] = oracle([r16(a) if f16 else np.asarray(a, np.float32) for a in ins])
    return _ORACLE[(name, f16)]


@pytest.mark.parametrize("vlen,variant", RUNS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kernel_matches_torch(results, case, vlen, variant):
    name, op, params, ins, oracle, tol16 = case
    f16 = variant.startswith("f16")
    expected = expected_of(case, f16)
    got = results[(vlen, variant, name)]
    assert len(got) == len(expected)
    tol = tol16 if f16 else TOL_F32
    for g, e in zip(got, expected):
        e = np.asarray(e, np.float64).reshape(-1)
        assert g.size == e.size, f"{name}: {g.size} values, expected {e.size}"
        err = np.abs(g - e).max() / max(np.abs(e).max(), 1e-6)
        assert err <= tol, f"{name} {variant} vlen={vlen}: rel. error {err:.2e} > {tol:.1e}"


def test_rvv_matches_ref_bit_exactly_for_fp16_matmul(results):
    """Broadcast-FMA matmul sums in the same k order as the scalar twin: identical FP16 bits."""
    for name in ("matmul_flags0", "matmul_flags2", "conv0_fwd_f0"):
        a, b = results[(128, "f16_ref", name)][0], results[(128, "f16_rvv", name)][0]
        assert np.array_equal(a, b), name


def test_fp32_accumulation_beats_fp16_accumulation():
    """EK_ACC32 must really accumulate in FP32: on a long reduction (K = 2000) of positive
    terms, FP16 accumulation loses digits that FP32 accumulation keeps."""
    rng = np.random.default_rng(5)
    M, N, K = 3, 16, 2000
    A, B = r16(rng.uniform(0, 1, (M, K))), r16(rng.uniform(0, 1, (K, N)))
    ref = A.astype(np.float64) @ B
    cases = [FCase("matmul", "f16_rvv", [M, N, K, K, N, N, fl], [A, B, np.zeros((M, N))]) for fl in (0, ACC32)]
    acc16, acc32 = (o[0] for o in run_cases(cases))
    e16 = np.abs(acc16 - ref.reshape(-1)).max() / ref.max()
    e32 = np.abs(acc32 - ref.reshape(-1)).max() / ref.max()
    assert e32 < 1e-3 and e16 > 5 * e32, (e16, e32)


def test_loss_scaling_keeps_tiny_fp16_gradients():
    """Gradients around 1e-6 underflow FP16 (min normal 6e-5); scaled by 1024 before the
    backward pass and unscaled in FP32 after it, they keep their precision."""
    rng = np.random.default_rng(7)
    bt, n_in, n_out = 4, 64, 8
    x = r16(rng.standard_normal((bt, n_in)))
    dy = rng.standard_normal((bt, n_out)) * 2e-6
    ref = dy.T @ x.astype(np.float64)
    cases = [FCase("linear_bww", "f16_rvv", [bt, n_in, n_out, 0, ACC32],
                   [x, r16(dy * s), np.zeros((n_out, n_in)), None]) for s in (1.0, 1024.0)]
    plain, scaled = (o[0] for o in run_cases(cases))
    e_plain = np.abs(plain - ref.reshape(-1)).max() / np.abs(ref).max()
    e_scaled = np.abs(scaled / 1024.0 - ref.reshape(-1)).max() / np.abs(ref).max()
    assert e_scaled < 5e-3 < e_plain, (e_plain, e_scaled)


@pytest.mark.parametrize("vlen", [96, 2048, 100])
def test_unsupported_vlen_is_a_clear_error(vlen):
    from edgesdk.package.riscv import run_linux
    with pytest.raises(EdgeError, match=f"vlen={vlen}"):
        run_linux("/bin/true", vlen=vlen)
