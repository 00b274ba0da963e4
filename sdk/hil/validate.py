"""`edgesdk validate`: the same inputs on the device and on the reference interpreter.

Integer outputs must match bit for bit; float outputs within a tolerance per dtype.
Cases are random within each input's range (the integer range of a quantized input,
the representable float range of its quantization otherwise) or read from a data file.
"""
import math
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, DeviceError, EdgeError
from ..util.atomic import write_bytes
from . import buildinfo

# (rtol, atol) for float outputs: f32 kernels may reorder sums; f16 has an 11-bit mantissa.
TOLERANCE = {"f32": (1e-4, 1e-4), "f16": (1e-2, 1e-2)}
# FP16 outputs are judged the way kernels/include/ek_float.h documents FP16 numerics:
# max|dev - ref| / max|ref| ("FP16 forward, FP16 accumulation, K <= 150: 5e-3, grows
# ~ sqrt(K)"). An error in FP16 scales with the largest magnitudes the sums went through,
# not with each element, so an elementwise rtol fails small logits next to large ones
# that are as accurate as FP16 allows.
F16_REL_TO_MAX = 5e-3
F16_REL_K = 150


def f16_tolerance(graph=None):
    """The documented FP16 bound for `graph`: 5e-3, times sqrt(K / 150) when its longest
    matmul-like reduction K (conv: Cin/group*kh*kw, Gemm/MatMul: the inner dimension) is
    longer. Pooling sums in FP32 (ek_float.h), so it does not count."""
    k = 0
    for n in getattr(graph, "nodes", ()):
        try:
            if n.op in ("Conv", "ConvTranspose") and len(n.inputs) > 1:
                w = graph.tensors[n.inputs[1]].shape
                k = max(k, int(np.prod(w[1:])))
            elif n.op in ("Gemm", "MatMul"):
                k = max(k, int(graph.tensors[n.inputs[0]].shape[-1]))
        except (KeyError, IndexError, TypeError):
            continue
    return F16_REL_TO_MAX * max(1.0, math.sqrt(k / F16_REL_K))


@dataclass
class OutputCheck:
    name: str
    dtype: str
    n: int
    mismatches: int
    max_abs_diff: float
    passed: bool


@dataclass
class CaseResult:
    index: int
    outputs: list = field(default_factory=list)
    count: int = 0
    unit: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def passed(self):
        return not self.error and all(o.passed for o in self.outputs)


@dataclass
class Report:
    build: str
    device: str
    cases: list
    not_run: int = 0
    resets_recovered: int = 0

    @property
    def passed(self):
        return self.not_run == 0 and all(c.passed for c in self.cases)

    @property
    def n_passed(self):
        return sum(c.passed for c in self.cases)


# ---- inputs ------------------------------------------------------------------------

def random_case(specs, rng):
    case = []
    for s in specs:
        shape, dt = tuple(s["shape"]), buildinfo.np_dtype(s)
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            case.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64).astype(dt))
            continue
        q = s.get("quant") or {}
        if q:
            scale = float(np.asarray(q["scale"]).reshape(-1)[0])
            zp = int(np.asarray(q["zero_point"]).reshape(-1)[0])
            case.append(rng.uniform(scale * (-128 - zp), scale * (127 - zp), size=shape).astype(dt))
        else:
            case.append(rng.standard_normal(size=shape).astype(dt))
    return case


def load_cases(path, specs, n):
    """Cases from .npy (one input; first axis = cases) or .npz (one array per input name)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{path}: cannot read as .npy/.npz ({e})") from None
    if isinstance(data, np.ndarray):
        if len(specs) != 1:
            raise DataError(f"{path}: the model has {len(specs)} inputs; give an .npz with one array per "
                            f"input ({', '.join(s.get('name', '?') for s in specs)})")
        arrays = [data]
    else:
        arrays = []
        for i, s in enumerate(specs):
            key = s.get("name")
            if key not in data.files:
                key = f"arr_{i}" if f"arr_{i}" in data.files else None
            if key is None:
                raise DataError(f"{path}: no array for input {s.get('name')!r} (has {', '.join(data.files)})")
            arrays.append(data[key])
    per_input = []
    for a, s in zip(arrays, specs):
        size = int(np.prod(s["shape"]))
        if a.size % size:
            raise DataError(f"{path}: {a.shape} does not split into cases of input shape {list(s['shape'])}")
        per_input.append(a.reshape(-1, *s["shape"]))
    count = min(len(a) for a in per_input)
    if count == 0:
        raise DataError(f"{path}: holds no cases")
    cases = []
    for k in range(min(n, count)):
        case = []
        for a, s in zip(per_input, specs):
            x = a[k]
            if buildinfo.np_dtype(s) != x.dtype and np.issubdtype(x.dtype, np.floating) and \
                    np.issubdtype(buildinfo.np_dtype(s), np.integer):
                x = buildinfo.quantize(x, s)
            case.append(x.astype(buildinfo.np_dtype(s)))
        cases.append(case)
    return cases


# ---- reference and comparison -----------------------------------------------------------

def reference_outputs(graph, specs, case):
    from .. import reference
    feeds = {}
    for name, spec, x in zip(graph.inputs, specs, case):
        want = graph.tensors[name].dtype
        if want == spec["dtype"]:
            feeds[name] = x
        elif want in ("f32", "f16"):
            feeds[name] = buildinfo.dequantize(x, spec).astype(np.float32 if want == "f32" else np.float16)
        else:
            raise EdgeError(f"model.edg input {name!r} is {want} but the device takes {spec['dtype']}: "
                            f"the build is inconsistent")
    out = reference.run(graph, feeds)
    return [out[o] for o in graph.outputs]


def compare(name, spec, device, ref, f16_tol=F16_REL_TO_MAX):
    dev = np.asarray(device)
    ref = np.asarray(ref)
    if ref.size != dev.size:
        return OutputCheck(name, spec["dtype"], dev.size, dev.size, math.inf, False)
    ref = ref.reshape(dev.shape)
    if np.issubdtype(dev.dtype, np.integer) and np.issubdtype(ref.dtype, np.integer):
        diff = np.abs(dev.astype(np.int64) - ref.astype(np.int64))
        bad = int(np.count_nonzero(diff))
        return OutputCheck(name, spec["dtype"], dev.size, bad, float(diff.max(initial=0)), bad == 0)
    d = buildinfo.dequantize(dev, spec) if np.issubdtype(dev.dtype, np.integer) else dev.astype(np.float64)
    r = ref.astype(np.float64)
    rtol, atol = TOLERANCE.get(spec["dtype"], TOLERANCE["f32"])
    if np.issubdtype(dev.dtype, np.integer):  # device quantized, reference float: 1 LSB
        atol = float(np.asarray((spec.get("quant") or {}).get("scale", [atol])).reshape(-1)[0])
        rtol = 0.0
    diff = np.abs(d - r)
    if spec["dtype"] == "f16" and not np.issubdtype(dev.dtype, np.integer):
        scale = float(np.abs(r).max(initial=0.0)) or 1.0
        atol, rtol = f16_tol * scale, 0.0
    bad = int(np.count_nonzero(~(diff <= atol + rtol * np.abs(r))))
    return OutputCheck(name, spec["dtype"], dev.size, bad, float(np.nanmax(diff, initial=0)), bad == 0)


# ---- the whole run ----------------------------------------------------------------------

def validate(build, cases=10, board=None, data=None, seed=0, port=None, progress=None, **device_kw):
    from ..ir import load as load_graph
    from .device import open_device

    build = Path(build)
    manifest = buildinfo.read_manifest(build)
    if manifest.get("target") == "gpu":   # a plan for an OpenCL/CUDA device, not rig firmware
        from ..gpu.device import open_gpu_device as open_device
    edg = build / "model.edg"
    if not edg.is_file():
        raise EdgeError(f"{build}: no model.edg, nothing to compare the device with")
    graph = load_graph(edg)
    if len(graph.inputs) != len(manifest["inputs"]) or len(graph.outputs) != len(manifest["outputs"]):
        raise EdgeError(f"{build}: model.edg has {len(graph.inputs)} inputs/{len(graph.outputs)} outputs, "
                        f"manifest.json {len(manifest['inputs'])}/{len(manifest['outputs'])}")
    if cases < 1:
        raise DataError(f"--cases must be at least 1, got {cases}")
    specs = manifest["inputs"]
    inputs = load_cases(data, specs, cases) if data else \
        [random_case(specs, np.random.default_rng([seed, k])) for k in range(cases)]
    results = []
    f16_tol = f16_tolerance(graph)
    with open_device(build, board=board, port=port, **device_kw) as dev:
        for k, case in enumerate(inputs):
            t0 = time.monotonic()
            res = CaseResult(k)
            try:
                out = dev.infer(case)
            except DeviceError as e:
                res.error = str(e)
                res.seconds = time.monotonic() - t0
                results.append(res)
                break  # the device is gone or confused: the remaining cases are not run
            ref = reference_outputs(graph, specs, case)
            res.outputs = [compare(s.get("name", f"output{i}"), s, d, r, f16_tol)
                           for i, (s, d, r) in enumerate(zip(manifest["outputs"], out.outputs, ref))]
            res.count, res.unit = out.count, out.unit
            res.seconds = time.monotonic() - t0
            results.append(res)
            if progress:
                progress(res)
        recovered = dev.resets_recovered
        name = dev.name
    return Report(str(build), name, results, not_run=len(inputs) - len(results), resets_recovered=recovered)


def summary_table(report):
    rows = [("case", "output", "dtype", "max|diff|", "mismatches", "count", "result")]
    for c in report.cases:
        if c.error:
            rows.append((str(c.index), "-", "-", "-", "-", "-", "ERROR"))
        for o in c.outputs:
            diff = "inf" if math.isinf(o.max_abs_diff) else f"{o.max_abs_diff:g}"
            rows.append((str(c.index), o.name, o.dtype, diff, f"{o.mismatches}/{o.n}",
                         f"{c.count} {c.unit}".strip(), "ok" if o.passed else "FAIL"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    counts = sorted(c.count for c in report.cases if not c.error)
    unit = next((c.unit for c in report.cases if c.unit), "")
    med = f", median {counts[len(counts) // 2]} {unit}" if counts else ""
    kind = "matching"
    lines.append(f"validate: {report.n_passed}/{len(report.cases) + report.not_run} cases {kind} the "
                 f"reference on {report.device}{med}"
                 + (f"; {report.not_run} not run" if report.not_run else "")
                 + (f"; {report.resets_recovered} device resets recovered" if report.resets_recovered else ""))
    for c in report.cases:
        if c.error:
            lines.append(f"case {c.index}: {c.error}")
    return "\n".join(lines)


def junit_xml(report):
    failures = sum(1 for c in report.cases if not c.error and not c.passed)
    errors = sum(1 for c in report.cases if c.error)
    suite = ET.Element("testsuite", name="edgesdk.validate", tests=str(len(report.cases) + report.not_run),
                       failures=str(failures), errors=str(errors), skipped=str(report.not_run),
                       time=f"{sum(c.seconds for c in report.cases):.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="build", value=report.build)
    ET.SubElement(props, "property", name="device", value=report.device)
    for c in report.cases:
        tc = ET.SubElement(suite, "testcase", classname=f"validate.{report.device}", name=f"case_{c.index}",
                           time=f"{c.seconds:.3f}")
        if c.error:
            ET.SubElement(tc, "error", message=c.error)
        for o in c.outputs:
            if not o.passed:
                ET.SubElement(tc, "failure", message=f"output {o.name}: {o.mismatches}/{o.n} elements differ, "
                                                     f"max |diff| {o.max_abs_diff:g}")
        if c.count:
            ET.SubElement(tc, "system-out").text = f"{c.count} {c.unit}"
    for k in range(report.not_run):
        tc = ET.SubElement(suite, "testcase", classname=f"validate.{report.device}",
                           name=f"case_{len(report.cases) + k}")
        ET.SubElement(tc, "skipped", message="not run: the device failed on an earlier case")
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write_junit(report, path):
    write_bytes(path, junit_xml(report))
