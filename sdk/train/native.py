"""The device training runtime compiled natively for the host (gcc + ctypes).

The very C files that go into the firmware (runtime/train/ek_train.c, the portable
float kernels, the generated train_head.c) are built as a shared library, so their
arithmetic can be checked against torch autograd in milliseconds, with no emulator.

The backbone is an identity model over int8 features (a real ek_model_api
implementation: the input buffer *is* the feature vector), which lets the HIL entry
point ek_train_step run unchanged too, including its argument checks.
"""
import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ToolMissingError
from ..paths import kernels_dir, runtime_dir

# An identity backbone and the two platform hooks the training runtime needs.
_GLUE = r"""
#include <stdint.h>
#include <time.h>
#include "ek_model_api.h"
#include "ek_train.h"
#define N_FEAT %(n)d
static int8_t feat_[N_FEAT];
static const ek_model_info_t info_ = {"native-identity", 0, 0, 0, 1, 1, 0};
const ek_model_info_t *ek_model_info(void) { return &info_; }
uint8_t *ek_model_input(uint32_t i) { return (uint8_t *)feat_; }
uint32_t ek_model_input_bytes(uint32_t i) { return N_FEAT; }
const uint8_t *ek_model_output(uint32_t i) { return (const uint8_t *)feat_; }
uint32_t ek_model_output_bytes(uint32_t i) { return N_FEAT; }
int ek_model_run(void) { return 0; }
const uint32_t *ek_model_layer_counts(void) { return 0; }
uint64_t ek_hil_counter(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
/* ek_hil_codec.c (linked for its CRC-32) also holds the COBS sender; the native build
 * has no UART, so bytes sent to it are counted and dropped. */
uint32_t ek_native_uart_bytes;
void ek_hil_putc(uint8_t c) { (void)c; ek_native_uart_bytes++; }
"""


def train_sources():
    k = kernels_dir()
    return [runtime_dir() / "train" / "ek_train.c", k / "ek_linear_f32_ref.c", k / "ek_matmul_f32_ref.c",
            k / "ek_train_f32_ref.c", runtime_dir() / "hil" / "ek_hil_codec.c"]


def compile_native_head(head_c, n_features, out_so):
    """Build train_head.c + the runtime into a shared library; returns its path."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ToolMissingError("gcc not found: install it with `apt-get install gcc`")
    out_so = Path(out_so)
    src = out_so.parent / "train_head.c"
    src.write_text(head_c)
    glue = out_so.parent / "native_glue.c"
    glue.write_text(_GLUE % {"n": n_features})
    incs = [kernels_dir() / "include", runtime_dir() / "include", runtime_dir() / "train", runtime_dir() / "hil"]
    # -ffp-contract=off: no fused multiply-adds, like the M4's separate VMUL/VADD (and torch on CPU)
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=gnu11", "-ffp-contract=off", "-o", str(out_so), str(src), str(glue),
           *map(str, train_sources()), *[f"-I{d}" for d in incs], "-lm"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"native build of the training runtime failed:\n{p.stderr[-4000:]}")
    return out_so


class NativeHead:
    """ctypes view of the runtime: forward/backward, apply, checkpoints, ek_train_step."""

    def __init__(self, head, feature_scale=1.0, feature_zp=0, mode="last", workdir=None, cache_slots=0):
        from ..codegen.mcu.train_emit import emit_train_head
        from .head import training_memory
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ek_native_train_")
            workdir = self._tmp.name
        self.head = head
        self.n_features = int(head[0].w.shape[1])
        self.n_classes = int(head[-1].w.shape[0])
        text = emit_train_head(head, feature_scale, feature_zp, mode, training_memory(head, mode, cache_slots),
                               cache_slots=cache_slots)
        so = compile_native_head(text, self.n_features, Path(workdir) / "libek_train.so")
        lib = self.lib = ctypes.CDLL(str(so))
        lib.ek_train_forward_backward.restype = ctypes.c_float
        lib.ek_train_forward_backward.argtypes = [ctypes.POINTER(ctypes.c_float), ctypes.c_int, ctypes.c_int,
                                                  ctypes.POINTER(ctypes.c_uint8)]
        lib.ek_train_apply.argtypes = [ctypes.c_uint32]
        lib.ek_train_configure.argtypes = [ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_int]
        lib.ek_train_checkpoint.restype = ctypes.c_uint32
        lib.ek_train_restored_seq.restype = ctypes.c_uint32
        lib.ek_train_step.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32,
                                      ctypes.POINTER(ctypes.c_uint32)]
        lib.ek_train_weight_bytes.restype = ctypes.c_uint32
        lib.ek_train_get_weights.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
        lib.ek_train_set_weights.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
        lib.ek_train_boot()

    def configure(self, lr, momentum=0.0, weight_decay=0.0, bias_only=False):
        self.lib.ek_train_configure(lr, momentum, weight_decay, int(bias_only))

    def sample(self, feature, label, accumulate=True):
        f = np.ascontiguousarray(feature, np.float32).reshape(-1)
        pred = ctypes.c_uint8()
        loss = self.lib.ek_train_forward_backward(f.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), int(label),
                                                  int(accumulate), ctypes.byref(pred))
        return float(loss), int(pred.value)

    def apply(self, count):
        self.lib.ek_train_apply(count)

    def checkpoint(self):
        return int(self.lib.ek_train_checkpoint())

    def boot(self):
        self.lib.ek_train_boot()
        return int(self.lib.ek_train_restored_seq())

    def step(self, payload):
        """The HIL TRAIN_STEP entry point: payload bytes in, reply bytes out."""
        reply = ctypes.create_string_buffer(256)
        n = ctypes.c_uint32()
        rc = self.lib.ek_train_step(bytes(payload), len(payload), reply, 256, ctypes.byref(n))
        if rc != 0:
            raise RuntimeError(f"ek_train_step returned {rc}")
        return reply.raw[:n.value]

    def _layer_field(self, layer, name, count):
        """A float array of the generated layer table (reads the C struct through ctypes)."""
        ptr = _Layer.from_address(ctypes.addressof(self._model().layers.contents) + layer * ctypes.sizeof(_Layer))
        p = getattr(ptr, name)
        return None if not p else np.ctypeslib.as_array(p, (count,)).copy()

    def _model(self):
        return _Model.in_dll(self.lib, "ek_train_model")

    def params(self):
        """[(w [out, in], b [out])] as the runtime holds them now."""
        out = []
        for i, L in enumerate(self.head):
            o, n = L.w.shape
            out.append((self._layer_field(i, "w", o * n).reshape(o, n), self._layer_field(i, "b", o)))
        return out

    def grads(self):
        """[(gw or None, gb)]: the gradients accumulated since the last apply (sums, not means)."""
        out = []
        for i, L in enumerate(self.head):
            o, n = L.w.shape
            gw = self._layer_field(i, "gw", o * n)
            out.append((None if gw is None else gw.reshape(o, n), self._layer_field(i, "gb", o)))
        return out

    def input_grads(self):
        """{l: d loss / d (pre-ReLU output of layer l-1)} for the layers whose input
        gradient the last sample propagated and that are still in the runtime's two
        ping-pong buffers (the last two layers; all of them for heads of up to 3)."""
        m = self._model()
        n = len(self.head)
        out = {}
        for k, l in enumerate(range(n - 1, max(0, n - 3), -1)):
            buf = m.grad_a if k % 2 == 0 else m.grad_b
            out[l] = np.ctypeslib.as_array(buf, (int(self.head[l].w.shape[1]),)).copy()
        return out

    def train_bytes(self):
        return int(self._model().train_bytes)

    def close(self):
        if self._tmp is not None:
            self._tmp.cleanup()


class _Layer(ctypes.Structure):
    _fields_ = [("in_", ctypes.c_uint16), ("out", ctypes.c_uint16), ("relu", ctypes.c_uint8),
                ("w", ctypes.POINTER(ctypes.c_float)), ("b", ctypes.POINTER(ctypes.c_float)),
                ("gw", ctypes.POINTER(ctypes.c_float)), ("gb", ctypes.POINTER(ctypes.c_float)),
                ("mw", ctypes.POINTER(ctypes.c_float)), ("mb", ctypes.POINTER(ctypes.c_float)),
                ("x", ctypes.POINTER(ctypes.c_float)), ("mask", ctypes.POINTER(ctypes.c_uint32))]


class _Model(ctypes.Structure):
    _fields_ = [("n_layers", ctypes.c_uint32), ("layers", ctypes.POINTER(_Layer)), ("n_classes", ctypes.c_uint32),
                ("feature_len", ctypes.c_uint32), ("feature_scale", ctypes.c_float), ("feature_zp", ctypes.c_int32),
                ("logits", ctypes.POINTER(ctypes.c_float)), ("dlogits", ctypes.POINTER(ctypes.c_float)),
                ("grad_a", ctypes.POINTER(ctypes.c_float)), ("grad_b", ctypes.POINTER(ctypes.c_float)),
                ("param_floats", ctypes.c_uint32), ("train_bytes", ctypes.c_uint32)]


def pack_sample(label, feature_q=None, train=True, store=None, cached=None):
    """EK_TRAIN_SAMPLE/EVAL payload with an int8 feature vector (identity backbone),
    optionally stored into / taken from a feature-cache slot."""
    from .device import pack_sample_args
    return pack_sample_args(label, None if feature_q is None else np.asarray(feature_q, np.int8).tobytes(),
                            train=train, store=store, cached=cached)
