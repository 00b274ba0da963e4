"""Static activation arena vs its lower bound on the MLPerf Tiny models (int8 activations).

    .venv/bin/python bench/memory_plan.py

Each model is imported through the frontend, run through the default passes (BN
folded, activations fused: what a build plans), and planned with 1 byte per
activation value and 16-byte alignment. Columns:
  no reuse   every activation in its own slot (what a naive static allocation costs)
  size only  greedy by size alone, in-place on
  2-sided    birth-order ping-pong placement alone, in-place on
  arena      the planner's answer (the smaller of the two)
  lower bnd  the most bytes live at once; arena / lower bnd is the packing waste
  no inplace the planner with in-place disabled
Goal (issue "MCU" item 3): arena within 10% of the lower bound on all four models.
MobileNetV2 (ImageNet, 224x224) is an extra, larger row.
"""
import json
import sys
import time
import warnings
from pathlib import Path

import torch

from edgesdk import frontends, zoo
from edgesdk.lower.memory_plan import plan_memory
from edgesdk.passes import run_passes
from edgesdk.util.atomic import write_text

OUT = Path(__file__).resolve().parent / "results" / "memory_plan.json"
GOAL = 1.10


def models():
    from edgesdk.zoo.mobilenet_v2 import MobileNetV2
    out = [(name, ctor, shape) for name, (ctor, shape) in zoo.MLPERF_TINY.items()]
    out.append(("mobilenet_v2_224 (extra)", MobileNetV2, (3, 224, 224)))  # architecture only
    return out


def int8(tensor):
    return tensor.numel


def main():
    rows = []
    for name, ctor, shape in models():
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = run_passes(frontends.load(ctor().eval(), example_inputs=torch.randn(1, *shape)))
        t0 = time.perf_counter()
        plan = plan_memory(graph, size_of=int8, align=16)
        plan_ms = (time.perf_counter() - t0) * 1e3
        rows.append({
            "model": name, "nodes": len(graph.nodes), "activations": len(plan.offsets),
            "no_reuse_bytes": sum(-(-s // 16) * 16 for s in plan.sizes.values()),
            "size_only_bytes": plan_memory(graph, size_of=int8, align=16, strategy="size").arena_bytes,
            "two_sided_bytes": plan_memory(graph, size_of=int8, align=16, strategy="two_sided").arena_bytes,
            "arena_bytes": plan.arena_bytes, "lower_bound": plan.lower_bound,
            "ratio": round(plan.arena_bytes / plan.lower_bound, 4),
            "no_inplace_bytes": plan_memory(graph, size_of=int8, align=16, inplace_ops=()).arena_bytes,
            "inplace_aliases": len(plan.aliases), "plan_ms": round(plan_ms, 2),
        })

    head = ["model", "nodes", "no reuse", "size only", "2-sided", "arena", "lower bnd", "arena/lb",
            "no inplace", "plan ms"]
    table = [[r["model"], r["nodes"], r["no_reuse_bytes"], r["size_only_bytes"], r["two_sided_bytes"],
              r["arena_bytes"], r["lower_bound"], f"{r['ratio']:.3f}", r["no_inplace_bytes"], r["plan_ms"]]
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    for line in [head] + table:
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(line, widths))))
    tiny = [r for r in rows if "extra" not in r["model"]]
    ok = all(r["ratio"] <= GOAL for r in tiny)
    print(f"\ngoal: arena <= {GOAL:.2f} x lower bound on the MLPerf Tiny models: {'MET' if ok else 'NOT MET'}")
    doc = {"bench": "memory_plan", "activation_bytes_per_value": 1, "align": 16, "passes": "default",
           "goal_ratio": GOAL, "goal_met": ok, "models": rows}
    write_text(OUT, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
