"""Host-in-the-loop validation of the MLPerf Tiny models on the three emulated boards.

    .venv/bin/python bench/hil_validate_boards.py [--cases 3] [--models ...] [--boards ...]

For each model (edgesdk.zoo.MLPERF_TINY, quantized as in bench/mcu_mlperf.py) and board
(mps2-an386 Cortex-M4, mps2-an500 Cortex-M7, mps3-an547 Cortex-M55) it builds the firmware
(edgesdk.pipeline.build, measure=False: the rig is what is timed here), then runs exactly
what CI runs: `edgesdk validate BUILD --cases N --junit ...` in a fresh process, and times
it. Reported: build seconds, validate wall seconds (process start, QEMU boot, N cases,
exit), seconds per case from the JUnit report (input up, run, output down, reference
compare), the bytes moved per case, and whether every case matched the reference bit for
bit. The sum is what these 12 validations cost CI, checked against a share of the 90-min
CI budget (goal: all 12 under 5 minutes of wall time on a 2-core machine).

Round-trip latency and link throughput are measured by the HIL engineer's
bench/hil_throughput.py (bench/results/hil.json); this bench reports the whole-case
figures per model instead. Writes bench/results/hil_validate.json.
"""
import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcu_mlperf import quantized_model  # noqa: E402  (same models and calibration)

from edgesdk.pipeline import build  # noqa: E402
from edgesdk.util.atomic import write_text  # noqa: E402
from edgesdk.zoo import MLPERF_TINY  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "hil_validate.json"
BOARDS = ["mps2-an386", "mps2-an500", "mps3-an547"]
GOAL_TOTAL_S = 300.0       # all validations together, a share of CI's 90 minutes
VALIDATE_TIMEOUT_S = 600


def validate_cli(build_dir, cases, junit):
    cmd = [sys.executable, "-m", "edgesdk", "validate", str(build_dir), "--cases", str(cases), "--junit", str(junit)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=VALIDATE_TIMEOUT_S)
    wall = time.monotonic() - t0
    case_s = []
    if Path(junit).is_file():
        root = ET.parse(junit).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        case_s = [float(tc.get("time", "nan")) for tc in suite.iter("testcase")]
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("validate:")]
    last = lines[-1] if lines and p.returncode != 2 else p.stderr.strip()[-300:]
    return p.returncode, wall, case_s, last


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3)
    ap.add_argument("--models", default=",".join(MLPERF_TINY))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    rows = []
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ek_hilval_") as tmp:
        for name in args.models.split(","):
            q, sample = quantized_model(name)
            for board in args.boards.split(","):
                bdir = Path(tmp) / f"{name}-{board}"
                t0 = time.monotonic()
                r = build(q, "mcu", board, bdir, calib=sample, measure=False, quiet=True)
                t_build = time.monotonic() - t0
                rc, wall, case_s, last = validate_cli(bdir, args.cases, Path(tmp) / f"{name}-{board}.xml")
                io = sum(int(np.prod(e["shape"])) for e in r.manifest["inputs"] + r.manifest["outputs"])
                row = {"model": name, "board": board, "kernels": r.manifest["kernels"], "cases": args.cases,
                       "build_s": round(t_build, 2), "validate_wall_s": round(wall, 2),
                       "case_s_median": round(float(np.median(case_s)), 3) if case_s else None,
                       "case_s": [round(c, 3) for c in case_s], "bytes_per_case": io,
                       "exit_code": rc, "passed": rc == 0, "summary": last}
                rows.append(row)
                print(f"{name:<20} {board:<11} build {t_build:6.1f}s  validate {wall:6.1f}s "
                      f"({args.cases} cases, {row['case_s_median']} s/case, {io} B/case)  exit {rc}  {last[:70]}",
                      flush=True)
    total_validate = sum(r["validate_wall_s"] for r in rows)
    total_build = sum(r["build_s"] for r in rows)
    print(f"\n{'model':<20} {'board':<11} {'kern':<5} {'build s':>8} {'validate s':>10} {'s/case':>7} "
          f"{'B/case':>7} {'result':>7}")
    for r in rows:
        print(f"{r['model']:<20} {r['board']:<11} {'+'.join(r['kernels']):<5} {r['build_s']:>8.1f} "
              f"{r['validate_wall_s']:>10.1f} {r['case_s_median'] or float('nan'):>7.3f} {r['bytes_per_case']:>7} "
              f"{'pass' if r['passed'] else 'FAIL':>7}")
    met = total_validate <= GOAL_TOTAL_S and all(r["passed"] for r in rows)
    print(f"\nvalidate total {total_validate:.1f} s for {len(rows)} model x board pairs ({args.cases} cases each); "
          f"builds {total_build:.1f} s; goal <= {GOAL_TOTAL_S:.0f} s and all pass: {'met' if met else 'MISSED'}")
    doc = {"what": "edgesdk validate BUILD --cases N (fresh process each) for the MLPerf Tiny models on the "
                   "emulated boards; builds not timed in the goal",
           "models": "edgesdk.zoo.MLPERF_TINY, untrained (seed 0), PTQ on 32 Fashion-MNIST images tiled to shape",
           "link": "QEMU UART on TCP (the rig's default for emulated boards); RTT/throughput: see hil.json",
           "host": platform.platform(), "python": sys.version.split()[0],
           "cases": args.cases, "validate_total_s": round(total_validate, 1), "build_total_s": round(total_build, 1),
           "wall_s": round(time.monotonic() - t_all, 1),
           "goal": {"validate_total_s_max": GOAL_TOTAL_S, "met": met}, "results": rows}
    write_text(args.out, json.dumps(doc, indent=1))
    print(f"wrote {args.out}")
    return doc


if __name__ == "__main__":
    main()
