"""Calibration: feed samples through the float reference and record activation ranges.

Calibration data is one array per graph input holding S samples along axis 0, each
sample shaped like the input without its batch axis: a (S, 1, 28, 28) array for an
input declared (1, 1, 28, 28). Samples run in batches through a copy of the graph
whose batch axis is widened (much faster than one reference run per sample); graphs
that cannot be widened (a Reshape that bakes in the batch size) run sample by sample.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

SUBSAMPLE = 65536  # values kept per tensor for percentile / MSE range search


def normalize_calib(graph, calib):
    """Validate `calib` (array or {input: array}) against the graph inputs; returns {name: f32 array}."""
    inputs = [i for i in graph.inputs if not graph.tensors[i].is_const]
    if isinstance(calib, np.lib.npyio.NpzFile):
        calib = {k: calib[k] for k in calib.files}
    if not isinstance(calib, dict):
        if len(inputs) != 1:
            raise DataError(f"calibration data: the model has {len(inputs)} inputs {inputs}; "
                            f"give a dict / .npz with one array per input")
        calib = {inputs[0]: calib}
    if len(calib) == 1 and len(inputs) == 1 and inputs[0] not in calib:
        calib = {inputs[0]: next(iter(calib.values()))}
    missing = [i for i in inputs if i not in calib]
    if missing:
        raise DataError(f"calibration data has no array for input(s) {missing}; it has {sorted(calib)}")
    out, count = {}, None
    for name in inputs:
        t = graph.tensors[name]
        arr = np.asarray(calib[name])
        want = ("S",) + tuple(t.shape[1:])
        if not np.issubdtype(arr.dtype, np.floating):
            raise DataError(f"calibration data for input {name!r}: dtype {arr.dtype}, expected float32 "
                            f"samples of shape {want}")
        if arr.ndim != len(t.shape) or tuple(arr.shape[1:]) != tuple(t.shape[1:]):
            raise DataError(f"calibration data for input {name!r}: shape {tuple(arr.shape)}, "
                            f"expected {want} (S samples along axis 0)")
        if arr.shape[0] == 0:
            raise DataError(f"calibration data for input {name!r} is empty (0 samples)")
        if count is not None and arr.shape[0] != count:
            raise DataError(f"calibration data: input {name!r} has {arr.shape[0]} samples, others {count}")
        if not np.all(np.isfinite(arr)):
            raise DataError(f"calibration data for input {name!r} contains NaN or infinity")
        count = arr.shape[0]
        out[name] = arr.astype(np.float32)
    return out


def widen_batch(graph, batch):
    """A copy of `graph` whose batch axis (axis 0 of every input, size 1) is `batch`, or None."""
    from ..ir import infer_shapes
    if batch == 1:
        return graph
    inputs = [i for i in graph.inputs if not graph.tensors[i].is_const]
    if any(graph.tensors[i].shape[0] != 1 for i in inputs):
        return None
    g = graph.copy()
    for n in g.nodes:
        if n.op == "Reshape" and len(n.inputs) > 1:
            # A constant target shape [1, ...] bakes in the batch: 0 means "copy that axis".
            t = g.tensors[n.inputs[1]]
            if t.data is None:
                return None
            if t.data.size and int(t.data.reshape(-1)[0]) == 1:
                data = t.data.copy()
                data.reshape(-1)[0] = 0
                name = g.unique_name(t.name + "_batch")
                g.add_const(name, data)
                n.inputs[1] = name
    for i in inputs:
        g.tensors[i].shape = (batch,) + tuple(g.tensors[i].shape[1:])
    for t in g.tensors.values():
        if not t.is_const and t.name not in inputs:
            t.shape = ()
    try:
        infer_shapes(g)
    except Exception:
        return None
    for o in g.outputs:
        s = g.tensors[o].shape
        if not s or s[0] != batch:
            return None
    return g


def iterate_batches(graph, calib, batch=32):
    """Yield (graph_for_this_batch, feeds) covering every calibration sample once."""
    n = next(iter(calib.values())).shape[0]
    inputs = list(calib)
    fixed = graph.tensors[inputs[0]].shape[0]
    if fixed != 1:
        # A graph built for a batch of B: feed whole batches of B samples (the rest is unused).
        if n < fixed:
            raise DataError(f"calibration data: {n} samples, but the model's input batch is {fixed}")
        for i in range(0, n - fixed + 1, fixed):
            yield graph, {k: calib[k][i:i + fixed] for k in inputs}
        return
    wide = {}
    i = 0
    while i < n:
        b = min(batch, n - i)
        if b not in wide:
            wide[b] = widen_batch(graph, b)
        g = wide[b]
        if g is None:  # cannot widen: one sample at a time
            for j in range(i, i + b):
                yield graph, {k: calib[k][j:j + 1] for k in inputs}
        else:
            yield g, {k: calib[k][i:i + b] for k in inputs}
        i += b


@dataclass
class TensorStats:
    lo: float = np.inf
    hi: float = -np.inf
    count: int = 0
    sample: list = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def update(self, arr, keep_sample):
        a = np.asarray(arr, np.float32).reshape(-1)
        if a.size == 0:
            return
        self.lo = min(self.lo, float(a.min()))
        self.hi = max(self.hi, float(a.max()))
        self.count += a.size
        if keep_sample:
            take = min(a.size, SUBSAMPLE // 4)
            self.sample.append(a if take == a.size else self.rng.choice(a, take, replace=False))
            if sum(s.size for s in self.sample) > 2 * SUBSAMPLE:
                allv = np.concatenate(self.sample)
                self.sample = [self.rng.choice(allv, SUBSAMPLE, replace=False)]

    def values(self):
        return np.concatenate(self.sample) if self.sample else np.zeros(0, np.float32)


def collect_stats(graph, calib, tensors, keep_sample=False, batch=32):
    """{tensor name: TensorStats} over all calibration samples (float reference)."""
    from ..reference import run
    stats = {t: TensorStats() for t in tensors}
    for g, feeds in iterate_batches(graph, calib, batch):
        env = run(g, feeds, keep_intermediates=True)
        for t in tensors:
            if t in env:
                stats[t].update(env[t], keep_sample)
    return stats


def _qerror(v, lo, hi):
    scale = max(hi - lo, 1e-12) / 255.0
    zp = np.round(-128 - lo / scale)
    q = np.clip(np.round(v / scale) + zp, -128, 127)
    return float(np.mean(((q - zp) * scale - v) ** 2))


def choose_range(st: TensorStats, method="minmax", percentile=99.99):
    """(lo, hi) float range of an activation; always contains 0 (zero must be exact)."""
    lo, hi = st.lo, st.hi
    if not np.isfinite(lo):
        lo, hi = 0.0, 0.0
    if method == "minmax" or not st.sample:
        pass
    elif method == "percentile":
        v = st.values()
        lo, hi = float(np.percentile(v, 100 - percentile)), float(np.percentile(v, percentile))
    elif method == "mse":
        v = st.values()
        best = (_qerror(v, min(lo, 0), max(hi, 0)), lo, hi)
        for a in np.linspace(0.3, 1.0, 36)[:-1]:
            cl, ch = lo * a, hi * a
            err = _qerror(v, min(cl, 0), max(ch, 0))
            if err < best[0]:
                best = (err, cl, ch)
        _, lo, hi = best
    else:
        raise ValueError(f"unknown calibration method {method!r}")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    return lo, hi


def act_qparams(lo, hi):
    """Asymmetric int8 (scale, zero_point) for a float range containing 0."""
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return np.float32(scale), zp
