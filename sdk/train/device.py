"""Fine-tune a deployed model on the device: the host streams labelled samples over the
rig (edgesdk.hil), the device trains its head and reports loss and accuracy."""
import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, DeviceError, EdgeError

# runtime/train/ek_train.h
CONFIG, SAMPLE, APPLY, EVAL, CHECKPOINT, STATUS, RESET_WEIGHTS, TORN_CHECKPOINT = range(1, 9)
_ERRORS = {1: "label out of range", 2: "sample of the wrong size", 3: "malformed arguments",
           4: "unknown training command", 5: "the model failed to run", 6: "no samples accumulated",
           7: "feature-cache slot out of range"}
F_INPUT, F_STORE, F_CACHED = 1, 2, 4


def pack_sample_args(label, data=None, train=True, store=None, cached=None):
    """SAMPLE/EVAL payload: label, flags, [u16 slot], [input bytes] (ek_train.h)."""
    flags = (F_INPUT if data is not None else 0) | (F_STORE if store is not None else 0) | \
        (F_CACHED if cached is not None else 0)
    body = struct.pack("<BHB", SAMPLE if train else EVAL, int(label), flags)
    slot = store if store is not None else cached
    if slot is not None:
        body += struct.pack("<H", int(slot))
    return body + (data or b"")


@dataclass
class FinetuneResult:
    history: list = field(default_factory=list)  # per epoch: loss, train_acc, test_acc, seconds
    before_acc: float = None
    after_acc: float = None
    instructions_per_sample: float = None          # first epoch: backbone + head
    instructions_per_cached_sample: float = None   # later epochs from the feature cache
    train_bytes: int = 0
    status: dict = field(default_factory=dict)
    weights: list = field(default_factory=list)   # [(w, b)] read back from the device at the end
    resets: int = 0                               # device reboots survived by resuming from a checkpoint

    def to_json(self):
        return {"history": self.history, "before_acc": self.before_acc, "after_acc": self.after_acc,
                "instructions_per_sample": self.instructions_per_sample,
                "instructions_per_cached_sample": self.instructions_per_cached_sample, "train_bytes": self.train_bytes,
                "status": self.status, "resets": self.resets}


class DeviceTrainer:
    """The training sub-protocol (EK_TRAIN_* in the TRAIN_STEP payload) on a connected Device."""

    def __init__(self, device, manifest):
        self.dev = device
        self.client = getattr(device, "client", device)
        self.manifest = manifest
        t = manifest.get("train")
        if not t:
            raise EdgeError(f"build {manifest.get('build_id')} has no trainable layers "
                            f"(build it with `edgesdk build ... --train-last K`)")
        self.train = t
        inp = manifest["inputs"][0]
        self.input_shape = tuple(inp["shape"])
        self.input_layout = inp.get("layout", "")
        self.scale = float(inp["quant"]["scale"][0])
        self.zp = int(inp["quant"]["zero_point"][0])
        self.n_classes = int(t["n_classes"])
        self._files = None

    def _call(self, payload, what):
        r = self.client.train_step(payload)
        if not r:
            raise DeviceError(f"{what}: empty reply from the device")
        if r[0] != 0:
            raise DataError(f"{what}: the device refused it: {_ERRORS.get(r[0], f'error {r[0]}')}")
        return r[1:]

    def device_bytes(self, x):
        """Float NCHW sample(s) -> the int8 bytes of the device's input buffer."""
        x = np.asarray(x, np.float32)
        want = self.input_shape[1:]
        if x.shape[-len(want):] != tuple(want):
            raise DataError(f"samples have shape {x.shape[1:] if x.ndim > len(want) else x.shape}, "
                            f"the model takes {tuple(want)}")
        q = np.clip(np.rint(x / self.scale) + self.zp, -128, 127).astype(np.int8).reshape(self.input_shape)
        if self.input_layout == "NHWC":
            q = q.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(q).tobytes()

    def _check_label(self, label):
        if not 0 <= int(label) < self.n_classes:
            raise DataError(f"label {int(label)} is out of range: the trainable head has {self.n_classes} classes "
                            f"(0..{self.n_classes - 1})")

    def configure(self, lr, momentum=0.9, weight_decay=0.0, bias_only=False):
        self._call(struct.pack("<BfffB", CONFIG, lr, momentum, weight_decay, int(bias_only)), "CONFIG")

    def _use_files(self):
        """Samples go through a host file (LOAD_INPUT: semihosting on QEMU, ~15x faster
        than the emulated UART) when the device runs here and supports it."""
        if self._files is None:
            self._files = getattr(self.dev, "file_dir", None) is not None and bool(self.client.has_files)
        return self._files

    def sample(self, x, label, train=True, store=None, cached=None):
        """One sample: forward (+ backward when train). `store=k` keeps its backbone
        feature in cache slot k; `cached=k` (x unused) trains on slot k's feature."""
        self._check_label(label)
        if cached is not None:
            body = pack_sample_args(label, None, train, cached=cached)
        else:
            data = self.device_bytes(x)
            if self._use_files():
                path = Path(self.dev.file_dir) / "train_in.bin"
                path.write_bytes(data)
                self.client.load_input(0, path, len(data))
                body = pack_sample_args(label, None, train, store=store)   # input already in place
            else:
                body = pack_sample_args(label, data, train, store=store)
        r = self._call(body, "SAMPLE" if train else "EVAL")
        loss, pred, cost = struct.unpack_from("<fBI", r)
        self.last_cost = cost
        return loss, pred

    def apply(self):
        n, cost = struct.unpack_from("<II", self._call(bytes([APPLY]), "APPLY"))
        self.last_cost = cost
        return n

    def checkpoint(self, torn=False):
        return struct.unpack_from("<I", self._call(bytes([TORN_CHECKPOINT if torn else CHECKPOINT]),
                                                   "CHECKPOINT"))[0]

    def status(self):
        restored, train_bytes, param_floats, seen = struct.unpack_from("<IIII", self._call(bytes([STATUS]), "STATUS"))
        return {"restored_checkpoint": restored, "train_bytes": train_bytes, "param_floats": param_floats,
                "samples_seen": seen}

    def reset_weights(self):
        self._call(bytes([RESET_WEIGHTS]), "RESET_WEIGHTS")

    def weights(self):
        """The head's parameters as [(w [out, in], b [out])] read back from the device."""
        raw = np.frombuffer(self.client.get_weights(), np.float32)
        out, pos = [], 0
        for L in self.train["layers"]:
            nw = L["in"] * L["out"]
            out.append((raw[pos:pos + nw].reshape(L["out"], L["in"]).copy(), raw[pos + nw:pos + nw + L["out"]].copy()))
            pos += nw + L["out"]
        return out

    def evaluate(self, x, y, slot_base=None, from_cache=False):
        """(accuracy, mean loss) on (x, y). With slot_base, sample i's feature is stored in
        cache slot slot_base + i, or (from_cache) taken from it."""
        correct, loss = 0, 0.0
        for i in range(len(x)):
            if slot_base is None:
                lo, pred = self.sample(x[i:i + 1], int(y[i]), train=False)
            elif from_cache:
                lo, pred = self.sample(None, int(y[i]), train=False, cached=slot_base + i)
            else:
                lo, pred = self.sample(x[i:i + 1], int(y[i]), train=False, store=slot_base + i)
            correct += int(pred == int(y[i]))
            loss += lo
        return correct / max(1, len(x)), loss / max(1, len(x))


def check_data(x, y, n_classes):
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0:
        raise DataError("the training set is empty")
    if len(x) != len(y):
        raise DataError(f"{len(x)} samples but {len(y)} labels")
    bad = y[(y < 0) | (y >= n_classes)]
    if bad.size:
        raise DataError(f"label {int(bad[0])} is out of range: the trainable head has {n_classes} classes "
                        f"(0..{n_classes - 1})")
    return x, y.astype(np.int64)


def _train_epoch(tr, x, y, order, batch_size, cache, from_cache, bar, callback, ep):
    """One pass over `order`; returns its statistics. Samples below `cache` are stored in
    the device's feature cache, or (from_cache) trained from it without being sent."""
    st = {"losses": [], "correct": 0, "cost": 0, "cost_cached": 0, "n_cached": 0, "cost_apply": 0}
    done = 0
    for i in range(0, len(x), batch_size):
        for j in order[i:i + batch_size]:
            if j < cache and from_cache:
                lo, pred = tr.sample(None, int(y[j]), cached=int(j))
                st["cost_cached"] += tr.last_cost
                st["n_cached"] += 1
            else:
                lo, pred = tr.sample(x[j:j + 1], int(y[j]), store=int(j) if j < cache else None)
                st["cost"] += tr.last_cost
            st["losses"].append(lo)
            st["correct"] += int(pred == y[j])
            done += 1
            if bar is not None:
                bar.update(1)
            if callback is not None:
                callback(tr.dev, ep, done)
        tr.apply()
        st["cost_apply"] += tr.last_cost
    return st


def finetune(build_dir, x, y, *, epochs=3, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0,
             x_test=None, y_test=None, board=None, seed=0, progress=True, checkpoint_every_epoch=True,
             bulk="auto", port=None, use_cache=True, max_resets=3, callback=None):
    """Fine-tune the head of `build_dir` on (x, y) on its board/emulator; returns FinetuneResult.

    bulk="line" streams every sample over the serial line even where host files work.
    With a feature cache in the build (--train-cache N), the first N samples are sent
    once: later epochs train on their cached backbone features (use_cache=False: never);
    if N also covers the test set, its features are cached as well.
    A device that reboots mid-run (power loss, watchdog, reset button) comes back with
    its last checkpoint (one per epoch); the run resumes from there, redoing the epochs
    after it (momentum restarts at zero: it is not checkpointed). More than `max_resets`
    fails. `callback(device, epoch, samples_done)` runs after every training sample."""
    from ..hil import open_device
    from ..hil.client import DeviceResetError
    build_dir = Path(build_dir)
    manifest = json.loads((build_dir / "manifest.json").read_text())
    if not manifest.get("train"):
        raise EdgeError(f"{build_dir}: this build has no trainable layers (build it with --train-last K)")
    x, y = check_data(x, y, int(manifest["train"]["n_classes"]))
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(x)) for _ in range(epochs)]   # the host yardstick draws the same
    res = FinetuneResult(train_bytes=int(manifest["train"]["train_bytes"]))
    slots = int(manifest["train"].get("cache_slots", 0)) if use_cache else 0
    cache = min(slots, len(x))
    # the test set is cached too when the slots after the training samples hold all of it
    test_base = len(x) if x_test is not None and slots >= len(x) + len(x_test) else None
    bias_only = manifest["train"]["mode"] == "bias"
    with open_device(build_dir, board=board, bulk=bulk, port=port) as dev:
        tr = DeviceTrainer(dev, manifest)
        tr.device_bytes(x[:1])  # shape check before anything runs
        tr.configure(lr, momentum, weight_decay, bias_only)
        start_seq = tr.status()["restored_checkpoint"]   # a checkpoint from an earlier run, if any
        test_cached = False
        if x_test is not None:
            res.before_acc, _ = tr.evaluate(x_test, y_test, test_base)
            test_cached = test_base is not None
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=epochs * len(x), desc="finetune on device", unit="sample", leave=False)
        epochs_at = {start_seq: 0}        # checkpoint sequence -> epochs completed when written
        cache_ready = False
        ep = 0
        while ep < epochs:
            try:
                if len(res.history) > ep:  # resumed after this epoch's checkpoint: only its test is missing
                    rec = res.history[ep]
                else:
                    t0 = time.monotonic()
                    st = _train_epoch(tr, x, y, orders[ep], batch_size, cache, cache_ready, bar, callback, ep)
                    apply_per_sample = st["cost_apply"] / len(x)   # the SGD step, amortized over its batch
                    if not cache_ready or res.instructions_per_sample is None:
                        res.instructions_per_sample = st["cost"] / len(x) + apply_per_sample
                    if st["n_cached"]:
                        res.instructions_per_cached_sample = st["cost_cached"] / st["n_cached"] + apply_per_sample
                    rec = {"epoch": ep + 1, "loss": float(np.mean(st["losses"])), "train_acc": st["correct"] / len(x),
                           "seconds": round(time.monotonic() - t0, 2)}
                    if checkpoint_every_epoch:
                        rec["checkpoint"] = tr.checkpoint()
                        epochs_at[rec["checkpoint"]] = ep + 1
                    res.history.append(rec)
                if x_test is not None and "test_acc" not in rec:
                    rec["test_acc"], rec["test_loss"] = tr.evaluate(x_test, y_test, test_base, test_cached)
                    test_cached = test_base is not None
            except DeviceResetError:
                res.resets += 1
                if not checkpoint_every_epoch or res.resets > max_resets:
                    raise
                dev.connect()
                seq = tr.status()["restored_checkpoint"]
                if seq not in epochs_at:
                    raise DeviceError(f"{dev.name}: rebooted mid-run and came back with checkpoint #{seq}, "
                                      f"not one of this run's ({sorted(epochs_at)})") from None
                ep = epochs_at[seq]
                del res.history[ep:]
                if ep and x_test is not None and "test_acc" not in res.history[ep - 1]:
                    ep -= 1                # checkpointed, but its test pass was cut short: redo only that
                tr.configure(lr, momentum, weight_decay, bias_only)   # the settings live in RAM
                cache_ready = test_cached = False                      # and so does the feature cache
                if bar is not None:
                    bar.n = ep * len(x)
                    bar.refresh()
                continue
            if bar is not None:
                bar.set_postfix(loss=f"{rec['loss']:.3f}", acc=f"{rec.get('test_acc', rec['train_acc']):.3f}")
            cache_ready = cache > 0
            ep += 1
        if bar is not None:
            bar.close()
        res.after_acc = res.history[-1].get("test_acc") if res.history else None
        res.status = tr.status()
        res.status["sample_transport"] = "host files" if tr._use_files() else "serial line"
        res.weights = tr.weights()
    return res
