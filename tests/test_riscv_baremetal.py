"""Bare-metal RV32 (qemu-system-riscv32 -M virt, -icount) runs of whole training steps.

The ResNet-8-style network of targets/riscv/bench/train_step.c is replayed in torch
(same LCG initialization, same SGD) and its loss per step must match: FP32 closely on
both the scalar and RVV kernels, FP16 RVV within 1%. The same RVV image runs at
VLEN 128/256/512: same numerics, and fewer instructions as the vectors grow.
(The VLEN sweep uses the FP32 image: QEMU 7.2 emulates FP16 vector ops ~3x slower.)"""
import functools
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgesdk.errors import DataError, DeviceError, EdgeError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import riscv_train  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("clang-19") and shutil.which("qemu-system-riscv32")),
                                reason="clang-19 and qemu-system-riscv32 are needed for bare-metal RISC-V")
STEPS = 2


class LCG:
    """frand() of train_step.c, bit for bit (vectorized: 1024-step jumps of the LCG)."""
    A, C, M, B = 1664525, 1013904223, 1 << 32, 1024

    def __init__(self, seed=12345):
        self.s = seed
        ja, jc = 1, 0
        for _ in range(self.B):
            ja, jc = (self.A * ja) % self.M, (self.A * jc + self.C) % self.M
        self.jump = (np.uint64(ja), np.uint64(jc))

    def states(self, n):
        first, s = [], self.s
        for _ in range(min(n, self.B)):
            s = (self.A * s + self.C) % self.M
            first.append(s)
        blocks = [np.array(first, np.uint64)]
        while sum(b.size for b in blocks) < n:  # uint64 wraps mod 2^64, a multiple of 2^32
            blocks.append((blocks[-1] * self.jump[0] + self.jump[1]) & np.uint64(0xFFFFFFFF))
        out = np.concatenate(blocks)[:n]
        self.s = int(out[-1]) if n else self.s
        return out

    def tensor(self, n, scale):
        v = ((self.states(n) >> np.uint64(8)) << np.uint64(8)).astype(np.uint32).view(np.int32)
        return v.astype(np.float32) / np.float32(2147483648.0) * np.float32(scale)


def conv_init(rng, cin, cout, k):
    fan_in = np.float32(cin * k * k)
    scale = np.float32(1.7)
    while scale * scale * fan_in > np.float32(6.0):
        scale = np.float32(scale * np.float32(0.9))
    w = rng.tensor(cout * cin * k * k, scale).reshape(cout, cin, k, k)
    b = rng.tensor(cout, 0.05)
    return [torch.tensor(w, dtype=torch.float64, requires_grad=True),
            torch.tensor(b, dtype=torch.float64, requires_grad=True)]


@functools.lru_cache(maxsize=None)
def torch_resnet8_losses(steps, lr=0.01, label=3):
    rng = LCG()
    x = torch.tensor(rng.tensor(3 * 32 * 32, 1.0).reshape(1, 3, 32, 32), dtype=torch.float64)
    stem = conv_init(rng, 3, 16, 3)
    blocks = []
    for cin, cout, s in ((16, 16, 1), (16, 32, 2), (32, 64, 2)):
        a, b = conv_init(rng, cin, cout, 3), conv_init(rng, cout, cout, 3)
        sc = conv_init(rng, cin, cout, 1) if (s != 1 or cin != cout) else None
        blocks.append((a, b, sc, s))
    fw = torch.tensor(rng.tensor(10 * 64, 1 / 8).reshape(10, 64), dtype=torch.float64, requires_grad=True)
    fb = torch.tensor(rng.tensor(10, 0.05), dtype=torch.float64, requires_grad=True)
    params = stem + [p for a, b, sc, _ in blocks for p in a + b + (sc or [])] + [fw, fb]
    losses = []
    for _ in range(steps):
        h = F.relu(F.conv2d(x, *stem, padding=1))
        for a, b, sc, s in blocks:
            y = F.conv2d(F.relu(F.conv2d(h, *a, stride=s, padding=1)), *b, padding=1)
            h = F.relu(y + (F.conv2d(h, *sc, stride=s) if sc else h))
        logits = F.linear(h.mean(dim=(2, 3)), fw, fb)
        loss = F.cross_entropy(logits, torch.tensor([label]))
        losses.append(loss.item())
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
    return np.array(losses)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for variant in ("f32_scalar", "f32_rvv", "f16_rvv"):
        out[(variant, 128)] = riscv_train.run_variant(variant, 128, STEPS, nets=("resnet8",))
    for vlen in (256, 512):
        out[("f32_rvv", vlen)] = riscv_train.run_variant("f32_rvv", vlen, STEPS, nets=("resnet8",))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("variant,rtol", [("f32_scalar", 1e-4), ("f32_rvv", 1e-4), ("f16_rvv", 1e-2)])
def test_resnet8_training_matches_torch(runs, variant, rtol):
    oracle = torch_resnet8_losses(STEPS)
    got = np.array(runs[(variant, 128)][1]["resnet8"])
    assert got.shape == oracle.shape
    np.testing.assert_allclose(got, oracle, rtol=rtol)
    assert got[-1] < got[0]  # it learns


@pytest.mark.slow
@pytest.mark.parametrize("vlen", [256, 512])
def test_vector_length_agnostic_on_bare_metal(runs, vlen):
    base_res, base_loss = runs[("f32_rvv", 128)]
    res, loss = runs[("f32_rvv", vlen)]
    np.testing.assert_allclose(loss["resnet8"], base_loss["resnet8"], rtol=1e-5)
    # minstret: the same program retires fewer instructions with longer vectors
    assert res["resnet8"]["step"][0] < 0.8 * base_res["resnet8"]["step"][0]
    assert res["resnet8"]["step"][1] == base_res["resnet8"]["step"][1]  # same MACs


@pytest.mark.slow
def test_instruction_counts_are_exact_and_repeatable(runs):
    again = riscv_train.run_variant("f32_rvv", 128, STEPS, nets=("resnet8",))
    assert again[0] == runs[("f32_rvv", 128)][0]


def test_uart_exit_code_and_trap(tmp_path):
    from edgesdk.package.riscv import compile_baremetal, run_baremetal
    src = tmp_path / "t.c"
    src.write_text('#include "ek_rv_platform.h"\n'
                   'int main(void) { ek_rv_puts("hi "); ek_rv_put_u64(1234567890123ull);\n'
                   '  volatile int *bad = (int *)0x4; if (ek_rv_instret() > 0) return *bad; return 0; }\n')
    elf = compile_baremetal([src], tmp_path / "t.elf")
    code, text = run_baremetal(elf, timeout=30)
    assert text.startswith("hi 1234567890123")
    assert "TRAP" in text and code == 3     # a load fault exits through the trap handler
    src.write_text('#include "ek_rv_platform.h"\nint main(void) { ek_rv_exit(42); }\n')
    code, _ = run_baremetal(compile_baremetal([src], tmp_path / "t2.elf"), timeout=30)
    assert code == 42


def test_baremetal_errors(tmp_path):
    from edgesdk.package.riscv import compile_baremetal, run_baremetal
    (tmp_path / "x.elf").touch()
    with pytest.raises(EdgeError, match="vlen=2048"):
        run_baremetal(tmp_path / "x.elf", vlen=2048)
    with pytest.raises(DataError, match="no such ELF"):
        run_baremetal(tmp_path / "missing.elf")
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undefined_thing; }\n")
    with pytest.raises(EdgeError, match="bad.c: compile failed"):
        compile_baremetal([bad], tmp_path / "bad.elf")
    loop = tmp_path / "loop.c"
    loop.write_text("int main(void) { for (;;) { } }\n")
    with pytest.raises(DeviceError, match="no exit after 2 s"):
        run_baremetal(compile_baremetal([loop], tmp_path / "loop.elf"), timeout=2)


def test_baremetal_expf_matches_numpy(tmp_path):
    """platform.c's expf (what TVM objects call on bare metal) against numpy float32."""
    from edgesdk.package.riscv import compile_baremetal, run_baremetal
    xs = [-110.0, -90.0, -20.5, -3.3, -1e-3, 0.0, 0.5, 1.0, 2.7, 10.0, 42.0, 88.0]
    src = tmp_path / "e.c"
    src.write_text('#include "ek_rv_platform.h"\nfloat expf(float);\n'
                   f'static const float xs[] = {{{", ".join(repr(x) + "f" for x in xs)}}};\n'
                   'int main(void) { for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i++) {\n'
                   '  union { float f; uint32_t u; } v = {expf(xs[i])}; ek_rv_put_hex32(v.u); ek_rv_putc(10); }\n'
                   '  return 0; }\n')
    code, text = run_baremetal(compile_baremetal([src], tmp_path / "e.elf"), timeout=30)
    assert code == 0
    got = np.array([int(h, 16) for h in text.split()], np.uint32).view(np.float32)
    ref = np.exp(np.array(xs, np.float64))
    normal = ref > 1.2e-38
    np.testing.assert_allclose(got[normal], ref[normal], rtol=2e-6)
    assert np.all(np.abs(got[~normal] - ref[~normal]) < 1e-40)
