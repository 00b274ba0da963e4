"""Host-in-the-loop link: round-trip latency and sustained throughput.

    .venv/bin/python bench/hil_throughput.py

Links: the rig on QEMU mps2-an386 (the UART on a TCP socket, as in CI) and the
host-native rig on a pty (the protocol's own cost, no emulated UART); each with bulk
data streamed over the line in frames ("line") and moved through host files
("files": semihosting on QEMU). Columns:
  rtt ms        ECHO with an empty payload, median (p90) of 200 round trips
  up KB/s       input bytes per second (2000-byte input: chunked SET_INPUT, or LOAD_INPUT)
  down KB/s     output bytes per second (chunked GET_OUTPUT, or SAVE_OUTPUT)
  echo KB/s     max-payload ECHO frames, payload bytes per second each way
  cases/s       whole inferences of the test model (2000 B in, run, 2000 B out)
  efficiency    payload bytes / bytes on the wire (framing, COBS, CRC, headers)
Wall-clock figures: the link is what is measured, so they vary with the machine's load.
Goal: a 2000-byte case (in + run + out) in under 0.5 s on QEMU (the files path), and
wire efficiency of the line's bulk transfers >= 0.95.
"""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgesdk.hil import open_device
from edgesdk.hil.testbuild import N, SHAPE, write_affine_build
from edgesdk.util.atomic import write_text

OUT = Path(__file__).resolve().parent / "results" / "hil.json"
GOAL_CASE_S = 0.5
GOAL_EFFICIENCY = 0.95


def measure(build, reps, bulk):
    with open_device(build, bulk=bulk) as dev:
        files = bulk == "auto"
        c = dev.client
        rtts = []
        for _ in range(200):
            t0 = time.perf_counter()
            c.echo(b"")
            rtts.append(time.perf_counter() - t0)
        data = bytes(np.random.default_rng(0).integers(-128, 128, N).astype(np.int8).tobytes())
        tx0 = c.stats.bytes_tx
        t0 = time.perf_counter()
        for _ in range(reps):
            if files:
                dev._write_file("up.bin", data)
                c.load_input(0, dev.file_dir / "up.bin", N)
            else:
                c.set_input(0, data)
        up_s = time.perf_counter() - t0
        up_eff = reps * N / (c.stats.bytes_tx - tx0)
        c.run()
        rx0 = c.stats.bytes_rx
        t0 = time.perf_counter()
        for _ in range(reps):
            dev._output(0, files)
        down_s = time.perf_counter() - t0
        down_eff = reps * N / (c.stats.bytes_rx - rx0)
        block = bytes(range(1, 256)) * 4
        block = block[:dev.info.max_payload]
        t0 = time.perf_counter()
        for _ in range(reps):
            c.echo(block)
        echo_s = time.perf_counter() - t0
        x = np.frombuffer(data, np.int8).reshape(SHAPE)
        t0 = time.perf_counter()
        for _ in range(reps):
            dev.infer([x])
        case_s = (time.perf_counter() - t0) / reps
        rtts.sort()
        return {
            "device": dev.name, "max_payload": dev.info.max_payload,
            "rtt_ms_median": 1e3 * statistics.median(rtts), "rtt_ms_p90": 1e3 * rtts[int(0.9 * len(rtts))],
            "up_kB_s": reps * N / up_s / 1e3, "down_kB_s": reps * N / down_s / 1e3,
            "echo_kB_s_each_way": reps * len(block) / echo_s / 1e3,
            "cases_per_s": 1 / case_s, "case_s": case_s,
            "efficiency_up": up_eff, "efficiency_down": down_eff, "reps": reps,
        }


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        links = [("qemu-tcp", "mps2-an386", 10), ("host-pty", "host", 200)]
        for link, board, reps in links:
            build = write_affine_build(Path(tmp) / board, board=board)
            for bulk, label in (("line", "line"), ("auto", "files")):
                r = measure(build, reps * (5 if label == "files" and board != "host" else 1), bulk)
                r["link"], r["bulk"] = link, label
                rows.append(r)
    head = ["link", "bulk", "rtt ms (p90)", "up KB/s", "down KB/s", "echo KB/s", "cases/s", "efficiency up/down"]
    table = [[r["link"], r["bulk"], f"{r['rtt_ms_median']:.2f} ({r['rtt_ms_p90']:.2f})", f"{r['up_kB_s']:.1f}",
              f"{r['down_kB_s']:.1f}", f"{r['echo_kB_s_each_way']:.1f}", f"{r['cases_per_s']:.1f}",
              f"{r['efficiency_up']:.3f}/{r['efficiency_down']:.3f}" if r["bulk"] == "line" else "-"]
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    for line in [head] + table:
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(line, widths))))
    line, files = rows[0], rows[1]
    eff = min(line["efficiency_up"], line["efficiency_down"])
    ok = files["case_s"] < GOAL_CASE_S and eff >= GOAL_EFFICIENCY
    print(f"\ngoal: a {N}-byte case in < {GOAL_CASE_S} s on QEMU ({files['case_s']:.3f} s with files, "
          f"{line['case_s']:.3f} s over the UART) and line efficiency >= {GOAL_EFFICIENCY} ({eff:.3f}): "
          f"{'MET' if ok else 'NOT MET'}")
    doc = {"bench": "hil_throughput", "goal_case_s": GOAL_CASE_S, "goal_efficiency": GOAL_EFFICIENCY,
           "goal_met": ok, "links": rows}
    write_text(OUT, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
