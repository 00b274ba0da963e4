"""ONNX backend node tests through the frontend + numpy reference, per op.

    .venv/bin/python bench/frontend_backend_tests.py

Every node test case the onnx package defines (the models and data behind
onnx/backend/test/data/node/test_*/, regenerated in memory because this wheel does not
ship the files) is imported with edgesdk.frontends.load, run with edgesdk.reference,
and compared with ONNX's expected outputs (each case's rtol/atol; integers exactly).
Per op: passed / total, where total counts every case of an op we implement, skips
included. Skip kinds: mode (an attribute value we deliberately do not implement),
dtype (double, string, float8, int4, int16...), dynamic (output shape depends on input
values that vary), opset (< 11). `bound`: passed cases whose shape-giving inputs
(Resize sizes, Unsqueeze axes...) were bound to their fixed test values as constants.
"""
import collections
import json
import sys
import time
from pathlib import Path

from edgesdk.frontends import conformance
from edgesdk.util.atomic import write_text

OUT = Path(__file__).resolve().parent / "results" / "onnx_backend.json"
KINDS = ("passed", "failed", "skipped_mode", "skipped_dtype", "skipped_dynamic", "skipped_opset")


def main():
    t0 = time.time()
    cases = conformance.collect_cases()
    per_op, rows = conformance.run_all(cases)
    elapsed = time.time() - t0
    table = {}
    for op in sorted(per_op):
        c = per_op[op]
        total = sum(c.get(k, 0) for k in KINDS)
        table[op] = {"passed": c.get("passed", 0), "total": total, "bound": c.get("bound", 0),
                     **{k: c.get(k, 0) for k in KINDS if k != "passed"}}
    status = collections.Counter("passed" if r[2] == "passed_bound" else r[2] for r in rows)
    unsupported = collections.Counter()
    for name, op, st, detail in rows:
        if st == "unsupported_op":
            for part in detail.split(": ", 1)[-1].split(", "):
                if "[" in part:
                    unsupported[part[part.index("[") + 1:part.rindex("]")]] += 1
    print(f"{'op':<24}{'passed/total':>14}{'bound':>7}{'failed':>8}{'mode':>6}{'dtype':>7}{'dyn':>5}{'opset':>7}")
    for op, r in table.items():
        print(f"{op:<24}{r['passed']:>7}/{r['total']:<6}{r['bound']:>7}{r['failed']:>8}{r['skipped_mode']:>6}"
              f"{r['skipped_dtype']:>7}{r['skipped_dynamic']:>5}{r['skipped_opset']:>7}")
    print(f"\n{len(rows)} cases in {elapsed:.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    fails = [r for r in rows if r[2] == "failed"]
    for name, op, _, detail in fails:
        print(f"FAILED {name} [{op}]: {detail}")
    doc = {
        "what": "ONNX backend node test cases (onnx.backend.test.case.node) via edgesdk.frontends.load + "
                "edgesdk.reference.run vs ONNX expected outputs",
        "onnx_version": __import__("onnx").__version__,
        "seconds": round(elapsed, 1),
        "cases": len(rows),
        "status_counts": dict(status),
        "per_op": table,
        "failed_cases": [{"case": n, "op": o, "detail": d} for n, o, _, d in fails],
        "skipped_cases": [{"case": n, "op": o, "kind": s, "detail": d} for n, o, s, d in rows
                          if s.startswith("skipped")],
        "unsupported_ops_seen": dict(unsupported.most_common()),
    }
    write_text(OUT, json.dumps(doc, indent=1))
    print(f"wrote {OUT}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
