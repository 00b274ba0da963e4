"""Run kernel cases natively (the _ref variant, gcc + ctypes) or on an emulated Cortex-M
(any variant, the checker firmware under QEMU), and check them bit for bit.

    check_variant("ek_conv2d_s8_dsp.c", cases=20)   # -> True when every case matches
    run_cases(cases, isa="mve", board="mps3-an547")  # -> [(instructions, output), ...]
"""
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DeviceError, ToolMissingError
from ..paths import kernels_dir, targets_dir
from . import OPS, pack_cases, parse_kernel_file, random_cases, unpack_results

# The board each variant is checked on by default: dsp on the M4, mve on the M55.
DEFAULT_BOARD = {"ref": "mps2-an386", "dsp": "mps2-an386", "mve": "mps3-an547"}
KC_DIR = targets_dir() / "mcu" / "kernelcheck"


def variant_sources(isa):
    k = kernels_dir()
    srcs = sorted(k.glob(f"ek_*_s8_{isa}.c")) + sorted(k.glob(f"ek_*_b1_{isa}.c")) + sorted(k.glob(f"ek_*_s4_{isa}.c"))
    return srcs + [KC_DIR / "ek_kc_dispatch.c"]


def _digest(paths, extra=""):
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths) + sorted((kernels_dir() / "include").glob("*.h")) + sorted(KC_DIR.glob("*")):
        h.update(str(p.name).encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def _cache_dir():
    d = Path(tempfile.gettempdir()) / "edgesdk_kernelcheck"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ---- native (host) ---------------------------------------------------------------

def native_compiler():
    """The host C compiler for the native _ref checks (gcc, else clang-19 from setup.sh)."""
    for name in ("gcc", "cc", "clang-19", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


@lru_cache(maxsize=None)
def _native_lib(digest):
    cc = native_compiler()
    if cc is None:
        raise ToolMissingError("no host C compiler (gcc, cc or clang-19) found: install it with `apt-get install gcc`")
    out = _cache_dir() / f"kc_ref_{digest}.so"
    if not out.exists():
        # A private temporary name: parallel test workers may build the same library.
        fd, tmp = tempfile.mkstemp(prefix=".kc_ref_", suffix=".so", dir=out.parent)
        os.close(fd)
        tmp = Path(tmp)
        cmd = [cc, "-O2", "-shared", "-fPIC", "-std=gnu11", "-Wall", "-DEK_KC_ISA=ref",
               f"-I{kernels_dir() / 'include'}", f"-I{KC_DIR}", *map(str, variant_sources("ref")), "-o", str(tmp)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"building the native kernel checker failed:\n{p.stderr}")
        tmp.replace(out)
    lib = ctypes.CDLL(str(out))
    lib.ek_kc_run.restype = ctypes.c_int
    lib.ek_kc_run.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.ek_kc_scratch_bytes.restype = ctypes.c_uint32
    lib.ek_kc_scratch_bytes.argtypes = [ctypes.c_uint32, ctypes.c_void_p]
    return lib


def run_native(cases):
    """Run the _ref kernels on the host; returns [(0, output)] (no instruction counts)."""
    lib = _native_lib(_digest(variant_sources("ref")))
    results = []
    for c in cases:
        params = np.asarray(c.params, np.int32)
        keep = [None if b is None else np.ascontiguousarray(b) for b in c.bufs]
        ptrs = (ctypes.c_void_p * max(1, len(keep)))(*[None if b is None else b.ctypes.data for b in keep])
        out = np.full(c.expected.nbytes, 0xA5, np.uint8)  # catches unwritten outputs
        n_scratch = lib.ek_kc_scratch_bytes(OPS[c.op], params.ctypes.data)
        scratch = np.zeros(n_scratch + 16, np.uint8)
        sp = scratch.ctypes.data + (-scratch.ctypes.data % 16)
        rc = lib.ek_kc_run(OPS[c.op], params.ctypes.data, ptrs, out.ctypes.data, sp if n_scratch else None)
        if rc != 0:
            raise RuntimeError(f"native checker: unknown op {c.op}")
        results.append((0, out.view(c.expected.dtype)))
    return results


# ---- Cortex-M under QEMU -------------------------------------------------------------

def build_checker_firmware(isa, board, opt="-O2"):
    """The checker firmware with every kernel of variant `isa`, cached by content."""
    from ..boards import load_board
    from ..package import arm
    srcs = variant_sources(isa)
    # Keyed by everything that goes into the image: kernels, platform, board, options.
    key = _digest(srcs + arm.platform_sources() + [load_board(board).path, targets_dir() / "mcu" / "link.ld.in"],
                  str(board) + opt)
    fw = _cache_dir() / f"kc_{isa}_{Path(str(board)).stem}_{key}.elf"
    if not fw.exists():
        arm.compile_firmware([*srcs, KC_DIR / "ek_kc_main.c"], board, fw, opt=opt,
                             defines={"EK_KC_ISA": isa}, include_dirs=[KC_DIR])
    return fw


def run_cases(cases, isa, board=None, timeout=300, opt="-O2"):
    """Run cases with variant `isa` (ref/dsp/mve) on an emulated board; [(instructions, output)]."""
    from ..package import arm
    board = board or DEFAULT_BOARD[isa]
    fw = build_checker_firmware(isa, board, opt)
    with tempfile.TemporaryDirectory(prefix="ek_kc_") as tmp:
        tmp = Path(tmp)
        (tmp / "cases.bin").write_bytes(pack_cases(cases))
        res = arm.run_firmware(fw, board, timeout=timeout, cwd=tmp)
        if res.timed_out or res.exit_code != 0:
            raise DeviceError(f"kernel checker ({isa} on {board}) failed: exit {res.exit_code}, "
                              f"timed out {res.timed_out}: {res.text.strip()[-300:]}")
        return unpack_results((tmp / "results.bin").read_bytes(), cases)


def run_variant(cases, isa, board=None):
    """_ref runs natively unless a board is named; other variants need their core."""
    if isa == "ref" and board is None:
        return run_native(cases)
    return run_cases(cases, isa, board)


def mismatches(cases, results):
    """[(case index, label, first differing flat index, got, expected)] for failing cases."""
    bad = []
    for i, (c, (_, got)) in enumerate(zip(cases, results)):
        if got.shape != c.expected.shape or not np.array_equal(got, c.expected):
            diff = np.nonzero(got != c.expected)[0] if got.shape == c.expected.shape else [0]
            j = int(diff[0])
            bad.append((i, c.label or f"{c.op} params={c.params}", j, got.reshape(-1)[j], c.expected[j]))
    return bad


def check_variant(kernel_file, cases=20, seed=0, board=None, verbose=False):
    """True iff `kernel_file`'s variant is bit-exact with the integer reference on `cases`
    random cases (the _ref variant natively on the host; dsp on the M4, mve on the M55)."""
    op, _, isa = parse_kernel_file(kernel_file)
    cs = random_cases(op, cases, seed=seed)
    bad = mismatches(cs, run_variant(cs, isa, board))
    if verbose:
        for b in bad[:5]:
            print(f"{kernel_file}: case {b[0]} ({b[1]}): element {b[2]} = {b[3]}, expected {b[4]}")
    return not bad
