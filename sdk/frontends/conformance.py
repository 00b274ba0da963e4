"""ONNX backend node conformance: the ONNX project's own node test cases, run through
load() and the numpy reference, compared with ONNX's expected outputs.

The cases are the ones behind onnx/backend/test/data/node/test_*/ (model.onnx plus
test_data_set_*/*.pb): this onnx wheel does not ship those files, so they are
regenerated in memory from onnx.backend.test.case.node (same models, same data).

A case ends in one of:
  passed / failed           every output matches (float: the case's rtol/atol;
                            integers and bools: exactly) / it does not, or it crashed
  skipped_mode              an attribute value or mode we deliberately do not implement
  skipped_dtype             a tensor type the IR has no dtype for (double, string, ...)
  skipped_dynamic           an output shape that depends on input VALUES (the IR is static)
                            that differ between the case's data sets

The IR has static shapes, so an input that fixes an output SHAPE (Resize's sizes,
Unsqueeze's axes, ...) must be a constant. Where a case feeds such an input as a graph
input with the same value in every data set, it is bound to that value as an
initializer (what a real model does) and the case is run; `bound` counts these.
  skipped_opset             a model opset below 11
  unsupported_op            an op we do not implement at all (not counted per op)
"""
import re
import warnings
from collections import defaultdict

import numpy as np

from ..errors import EdgeError, GraphError, ModelError, UnsupportedOpsError


def collect_cases(ops=None):
    """The node test cases, optionally only those whose graph uses only ops in `ops`."""
    from onnx.backend.test.case import node as case_node
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = case_node.collect_testcases(None)
    if ops is not None:
        ops = set(ops)
        cases = [c for c in cases if {n.op_type for n in c.model.graph.node} <= ops]
    return cases


def _snake(op):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()


def case_op(case):
    """The op a case tests: its single node's op, else the op its name starts with."""
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    name = case.name[len("test_"):]
    best = None
    for op in {n.op_type for n in nodes}:
        for cand in (_snake(op), op.lower()):
            if name.startswith(cand) and (best is None or len(cand) > len(best[1])):
                best = (op, cand)
    return best[0] if best else "(multi-op)"


def _array(v):
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(v) if isinstance(v, TensorProto) else np.asarray(v)


def run_case(case):
    """(status, detail) for one case."""
    from .. import reference
    from ..errors import UnsupportedModeError
    from . import load
    from .onnx_import import UnsupportedDtypeError
    try:
        g, bound = _load_binding_shape_inputs(case)
    except UnsupportedOpsError as e:
        return "unsupported_op", str(e)
    except UnsupportedDtypeError as e:
        return "skipped_dtype", str(e)
    except UnsupportedModeError as e:
        return "skipped_mode", str(e)
    except ModelError as e:
        if "opset" in str(e):
            return "skipped_opset", str(e)
        if "dynamic dimensions" in str(e):
            return "skipped_dynamic", str(e)
        return "failed", f"import: {e}"
    except GraphError as e:
        if "is not a constant" in str(e):
            return "skipped_dynamic", str(e)
        return "failed", f"import: {e}"
    except Exception as e:  # our bug: report it as a failure of this case
        return "failed", f"import crashed: {type(e).__name__}: {e}"
    shifted = g.meta.get("u8_shifted", {})
    init_names = {i.name for i in case.model.graph.initializer}
    in_names = [vi.name for vi in case.model.graph.input if vi.name not in init_names]
    out_names = [vo.name for vo in case.model.graph.output]
    for k, (inputs, expected) in enumerate(case.data_sets):
        feeds = {}
        for name, val in zip(in_names, inputs):
            if name in bound:
                continue
            val = _array(val)
            if name in shifted.get("inputs", []):
                val = (val.astype(np.int16) - 128).astype(np.int8)
            feeds[name] = val
        try:
            with np.errstate(all="ignore"):
                got = reference.run(g, feeds)
        except UnsupportedModeError as e:
            return "skipped_mode", str(e)
        except EdgeError as e:
            return "failed", f"run: {e}"
        except Exception as e:
            return "failed", f"run crashed: {type(e).__name__}: {e}"
        for name, want in zip(out_names, expected):
            want = _array(want)
            have = np.asarray(got[name])
            if name in shifted.get("outputs", []):
                have = (have.astype(np.int16) + 128).astype(np.uint8)
            if have.shape != want.shape:
                return "failed", f"data set {k}, output {name}: shape {have.shape} != expected {want.shape}"
            if have.dtype != want.dtype:
                return "failed", f"data set {k}, output {name}: dtype {have.dtype} != expected {want.dtype}"
            if np.issubdtype(want.dtype, np.floating):
                ok = np.allclose(have, want, rtol=case.rtol, atol=case.atol, equal_nan=True)
                if not ok:
                    err = np.nanmax(np.abs(have.astype(np.float64) - want))
                    return "failed", f"data set {k}, output {name}: max abs diff {err:.3g} " \
                                     f"(rtol {case.rtol}, atol {case.atol})"
            elif not np.array_equal(have, want):
                return "failed", f"data set {k}, output {name}: integer/bool values differ"
    return ("passed_bound" if bound else "passed"), (f"bound as constants: {', '.join(bound)}" if bound else "")


_NOT_CONST = re.compile(r"input '([^']+)' is not a constant")


def _load_binding_shape_inputs(case):
    """load() the case; bind value-dependent-shape inputs (same value in every data set)."""
    from onnx import numpy_helper
    from . import load
    model, bound = case.model, []
    inits = {i.name for i in case.model.graph.initializer}
    names = [vi.name for vi in case.model.graph.input if vi.name not in inits]  # data-set order
    while True:
        try:
            return load(model), bound
        except GraphError as e:
            m = _NOT_CONST.search(str(e))
            if not m or m.group(1) not in names or m.group(1) in bound:
                raise
            name = m.group(1)
            k = names.index(name)
            values = [_array(inputs[k]) for inputs, _ in case.data_sets]
            if any(not np.array_equal(values[0], v) for v in values[1:]):
                raise
            prev, model = model, type(model)()
            model.CopyFrom(prev)
            model.graph.initializer.append(numpy_helper.from_array(values[0], name))
            bound.append(name)


def run_all(cases=None):
    """{op: {status: count}}, [(case name, op, status, detail)] over all cases."""
    cases = collect_cases() if cases is None else cases
    per_op = defaultdict(lambda: defaultdict(int))
    rows = []
    for c in cases:
        status, detail = run_case(c)
        op = case_op(c)
        rows.append((c.name, op, status, detail))
        if status == "passed_bound":
            per_op[op]["passed"] += 1
            per_op[op]["bound"] += 1
        elif status != "unsupported_op":
            per_op[op][status] += 1
    return {op: dict(v) for op, v in per_op.items()}, rows
