"""The host-in-the-loop rig on RISC-V: the Fashion-MNIST CNN built for bare-metal RV32
(qemu-system-riscv32, 16550 UART, minstret) and for RV64 Linux user mode (qemu-riscv64 on
a pty), validated against the FP32 reference interpreter through the CLI and the API,
and the faults: damaged/dropped frames, a reset (command and button), the emulator
killed mid-session, and no emulator process left behind."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from edgesdk.errors import DeviceError
from edgesdk.hil import open_device
from edgesdk.hil import protocol as P
from edgesdk.hil.validate import compare, f16_tolerance, validate

from conftest import require_tools
from hil_helpers import OnCommand, assert_device_dies_with_host, pid_alive

pytestmark = [pytest.mark.qemu,
              require_tools("clang-19", "ld.lld-19", "qemu-system-riscv32", "qemu-riscv64")]
EDGESDK = [sys.executable, "-m", "edgesdk"]
SHAPE = (1, 1, 28, 28)


def rel_to_max(dev, ref):
    """The error measure kernels/include/ek_float.h documents: max|dev - ref| / max|ref|."""
    ref = np.asarray(ref, np.float64).reshape(-1)
    return float(np.abs(np.asarray(dev, np.float64).reshape(-1) - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def model():
    from edgesdk.zoo.train import fmnist_classifier
    return fmnist_classifier(width=8, epochs=1, limit=6000).eval()


def _build(model, tmp_path_factory, board, dtype):
    import torch

    from edgesdk import pipeline
    out = tmp_path_factory.mktemp("rv") / f"{board}-{dtype}"
    pipeline.build(model, "riscv", board, out, dtype=dtype, example_inputs=torch.zeros(SHAPE), quiet=True)
    return out


@pytest.fixture(scope="module")
def rv32_f16(model, tmp_path_factory):
    return _build(model, tmp_path_factory, "qemu-rv32-virt", "f16")


@pytest.fixture(scope="module")
def rv32_f32(model, tmp_path_factory):
    return _build(model, tmp_path_factory, "qemu-rv32-virt", "f32")


@pytest.fixture(scope="module")
def rv64_f16(model, tmp_path_factory):
    return _build(model, tmp_path_factory, "qemu-rv64-linux", "f16")


@pytest.fixture(scope="module")
def images():
    from edgesdk.data import load_fashion_mnist
    x, y = load_fashion_mnist("test", limit=5)
    return x.astype(np.float32), y


def manifest(build):
    return json.loads((build / "manifest.json").read_text())


def graph(build):
    from edgesdk.ir import load
    return load(build / "model.edg")


def reference(build, x):
    from edgesdk import reference as ref
    g = graph(build)
    return ref.run(g, {g.inputs[0]: np.asarray(x, np.float32).reshape(SHAPE)})[g.outputs[0]]


# ---- validate and run through the CLI --------------------------------------------------

def test_f16_outputs_are_judged_relative_to_the_largest_reference_value():
    """validate's FP16 rule (ek_float.h): |err| <= tol * max|ref| for every element, so a
    small logit next to a large one may be off by FP16 rounding of the large scale."""
    spec = {"dtype": "f16"}
    ref = np.array([100.0, -3.0, 0.5])
    assert compare("y", spec, np.array([100.0, -3.4, 0.5], np.float16), ref).passed     # 0.4 <= 0.5
    bad = compare("y", spec, np.array([100.0, -3.6, 0.5], np.float16), ref)
    assert not bad.passed and bad.mismatches == 1
    assert compare("y", spec, np.array([100.0, -3.6, 0.5], np.float16), ref, f16_tol=1e-2).passed
    assert not compare("y", spec, np.array([np.nan, -3.0, 0.5], np.float16), ref).passed
    # the bound grows ~sqrt(K) past K = 150: a 3x3 conv over 64 channels (K = 576) doubles
    # it to ~9.8e-3; pooling (FP32 sums) does not count
    from types import SimpleNamespace as NS
    g = NS(nodes=[NS(op="Conv", inputs=["x", "w"]), NS(op="Gemm", inputs=["h", "w2"]),
                  NS(op="GlobalAveragePool", inputs=["y"])],
           tensors={"w": NS(shape=(8, 64, 3, 3)), "h": NS(shape=(1, 100)), "y": NS(shape=(1, 9999, 1, 1))})
    assert f16_tolerance(g) == pytest.approx(5e-3 * (576 / 150) ** 0.5)
    assert f16_tolerance(None) == 5e-3

def test_validate_cli_fp16_bare_metal_on_fashion_mnist(rv32_f16, images, tmp_path):
    m = manifest(rv32_f16)
    assert m["image"] == "firmware.elf" and m["selftest_image"] == "selftest.elf" and m["dtype"] == "f16"
    np.save(tmp_path / "x.npy", images[0])
    p = subprocess.run([*EDGESDK, "validate", str(rv32_f16), "--cases", "5", "--data", str(tmp_path / "x.npy")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5/5 cases matching the reference on qemu-rv32-virt" in p.stdout and "instructions" in p.stdout


def test_fp16_outputs_within_the_documented_tolerance(rv32_f16, images):
    """What validate decides, recomputed here: the FP16 logits of real images against the
    FP32 reference (on the same FP16-rounded inputs), max|err| / max|ref| within what
    ek_float.h documents for FP16 forward (5e-3 at K <= 150, ~sqrt(K) beyond: this width-8
    CNN's longest reduction is a 3x3 conv over 16 channels, K = 144), and the same class."""
    x, _ = images
    tol = f16_tolerance(graph(rv32_f16))
    assert tol == 5e-3
    with open_device(rv32_f16) as dev:
        for k in range(3):
            xk = x[k:k + 1].astype(np.float16)
            y = dev.infer([xk]).outputs[0]
            assert y.dtype == np.float16
            r = reference(rv32_f16, xk.astype(np.float32))
            assert 0 < rel_to_max(y, r) <= tol
            assert int(np.argmax(y)) == int(np.argmax(r))


def test_validate_fp32_bare_metal_counts_match_the_self_test(rv32_f32):
    rep = validate(rv32_f32, cases=5)
    assert rep.n_passed == 5 and rep.not_run == 0, [c.outputs for c in rep.cases]
    # the rig reads minstret around ek_model_run like the build's self-test did: the
    # same instructions, give or take the two CSR reads
    want = manifest(rv32_f32)["summary"]["instructions"]
    for c in rep.cases:
        assert c.unit == "instructions" and abs(c.count - want) <= 8, (c.count, want)


def test_run_cli_prints_outputs_and_instruction_count(rv32_f32, images, tmp_path):
    x = images[0][:1]
    np.save(tmp_path / "x.npy", x)
    p = subprocess.run([*EDGESDK, "run", str(rv32_f32), "--input", str(tmp_path / "x.npy"),
                        "-o", str(tmp_path / "y.npz")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    m = manifest(rv32_f32)
    out = m["outputs"][0]
    assert f"{out['name']} f32 [1, 10]" in p.stdout and "instructions:" in p.stdout
    n = int(p.stdout.split("instructions:")[1].split()[0])
    assert abs(n - m["summary"]["instructions"]) <= 8
    # per-layer counts from the rig's TIMING, one line per layer, as the self-test measured them
    for layer in m["layers"]:
        line = next(s for s in p.stdout.splitlines() if s.strip().startswith(layer["name"]))
        assert abs(int(line.split()[1]) - layer["instructions"]) <= 8, (line, layer)
    y = np.load(tmp_path / "y.npz")[out["name"]]
    assert rel_to_max(y, reference(rv32_f32, x)) < 1e-5


def test_validate_catches_a_wrong_model(rv32_f32, tmp_path):
    """model.edg with a changed bias, the firmware with the trained one: every case fails."""
    from edgesdk.ir import load, save
    wrong = tmp_path / "wrong"
    shutil.copytree(rv32_f32, wrong)
    g = load(wrong / "model.edg")
    bias = [n.inputs[2] for n in g.nodes if n.op == "Gemm"][-1]
    g.tensors[bias].data[...] += 0.05
    save(g, wrong / "model.edg")
    p = subprocess.run([*EDGESDK, "validate", str(wrong), "--cases", "2"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "0/2 cases matching" in p.stdout and "FAIL" in p.stdout


@pytest.mark.parametrize("which", ["rv32", "rv64"])
def test_missing_image_is_a_one_line_error(which, rv32_f32, rv64_f16, tmp_path):
    build, image = (rv32_f32, "firmware.elf") if which == "rv32" else (rv64_f16, "rig")
    broken = tmp_path / "noimage"
    shutil.copytree(build, broken)
    (broken / image).unlink()
    p = subprocess.run([*EDGESDK, "run", str(broken)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and f"{image}: firmware image not found" in p.stderr


@pytest.mark.parametrize("which", ["rv32", "rv64"])
def test_no_emulator_left_when_the_host_is_killed(which, rv32_f32, rv64_f16):
    """SIGKILL gives Python no chance to clean up: QEMU dies with its parent
    (PR_SET_PDEATHSIG); the pty rig under qemu-riscv64 exits when its line closes."""
    assert_device_dies_with_host(rv32_f32 if which == "rv32" else rv64_f16)


# ---- faults on the bare-metal UART -------------------------------------------------------

def test_damaged_and_dropped_frames_on_the_16550(rv32_f32):
    """The server's NAK path and reply cache through QEMU's 16550: the faulty session
    returns the clean session's outputs bit for bit."""
    from edgesdk.hil.transport import FaultyTransport
    x = np.random.default_rng(7).standard_normal(SHAPE).astype(np.float32)
    with open_device(rv32_f32) as dev:
        clean = dev.infer([x]).outputs[0]
    wrap = lambda t: FaultyTransport(t, drop_tx={2}, corrupt_tx={3, 5}, corrupt_rx_every=150, seed=1)
    with open_device(rv32_f32, timeout=1.0, transport_wrapper=wrap) as dev:
        for _ in range(3):
            np.testing.assert_array_equal(dev.infer([x]).outputs[0], clean)
        s = dev.client.stats
    assert s.retries >= 3 and s.naks >= 1 and s.bad_frames >= 1


def test_reset_command_reboots_and_the_button_is_recovered(rv32_f16):
    x = np.random.default_rng(8).standard_normal(SHAPE).astype(np.float16)
    with open_device(rv32_f16) as dev:
        before = dev.infer([x]).outputs[0]
        c = dev.client
        token = c.token
        # RESET goes through the sifive_test finisher; afterwards the server has no memory
        # of the session (HELLO reports the previous token as 0), where a server that had
        # not rebooted would report ours
        f = c.request(P.HELLO, struct.pack("<I", token))
        assert struct.unpack_from("<I", f.payload)[0] == token
        with socket.socket(socket.AF_UNIX) as qmp:   # QEMU reports the guest's own reset
            qmp.settimeout(5)
            qmp.connect(dev.emulator.qmp_path)
            q = qmp.makefile("rwb")
            q.readline()
            q.write(b'{"execute": "qmp_capabilities"}\n')
            q.flush()
            assert "return" in json.loads(q.readline())
            dev.reset()
            event = json.loads(q.readline())
            q.close()   # the socket closes only with its file object; QMP takes one client at a time
        assert event["event"] == "RESET" and event["data"]["reason"] == "guest-reset"
        f = c.request(P.HELLO, struct.pack("<I", 0x5EED))
        assert struct.unpack_from("<I", f.payload)[0] == c.token != token
        np.testing.assert_array_equal(dev.infer([x]).outputs[0], before)
        # the reset button (QMP system_reset) between runs: the next run redoes its case
        dev.emulator.reset()
        res = dev.infer([x])
        assert res.resets_recovered == 1
        np.testing.assert_array_equal(res.outputs[0], before)


def test_qemu_killed_mid_session_is_a_clear_error_and_leaves_nothing(rv32_f32):
    holder = {}
    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.SET_INPUT, lambda: holder["dev"].emulator.kill(), delay=0))
    with open_device(rv32_f32, transport_wrapper=wrap, bulk="line") as dev:
        holder["dev"] = dev
        pid = dev.emulator.proc.pid
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match=r"qemu-rv32-virt .*QEMU ended \(killed by signal 9\)"):
            dev.infer([np.zeros(SHAPE, np.float32)])
        assert time.monotonic() - t0 < 10
    assert holder["w"].fired and not pid_alive(pid)


# ---- RV64 Linux user mode: the host port under qemu-riscv64 on a pty -----------------------

def test_rv64_linux_validate_reset_and_kill(rv64_f16, images):
    m = manifest(rv64_f16)
    assert m["image"] == "rig" and m["selftest_image"] == "app"
    x = images[0][:3]
    rep = validate(rv64_f16, cases=3, data=None)
    assert rep.n_passed == 3 and all(c.unit == "ns" and c.count > 0 for c in rep.cases)
    with open_device(rv64_f16) as dev:
        pid = dev.client.t.proc.pid
        y0 = dev.infer([x[0]]).outputs[0]
        assert rel_to_max(y0, reference(rv64_f16, x[0].astype(np.float16).astype(np.float32))) <= \
            f16_tolerance(graph(rv64_f16))
        boot = dev.info.boot_count
        dev.reset()       # the guest re-executes qemu-riscv64 on itself: a fresh process image
        assert dev.info.boot_count == boot + 1 and dev.client.t.proc.pid == pid
        np.testing.assert_array_equal(dev.infer([x[0]]).outputs[0], y0)

    holder = {}

    def kill():
        os.killpg(holder["w"].inner.proc.pid, signal.SIGKILL)

    wrap = lambda t: holder.setdefault("w", OnCommand(t, P.RUN, kill, delay=0))
    with open_device(rv64_f16, transport_wrapper=wrap) as dev:
        pid = dev.client.t.inner.proc.pid
        with pytest.raises(DeviceError, match=r"qemu-rv64-linux: port vanished .*exited with code -9"):
            dev.infer([x[1]])
    assert holder["w"].fired and not pid_alive(pid)
