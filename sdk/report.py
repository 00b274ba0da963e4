"""`edgesdk report`: a Markdown + HTML page with PNG plots for a build folder.

Plots (matplotlib, Agg):
- per-layer instructions (from the build's emulator run) and MACs per instruction;
- the memory map: every arena buffer as a box over its lifetime (layer index) and its
  byte range, with the liveness lower bound for reference; flash by layer;
- accuracy against model size for every compression run found in a results folder
  (bench/results/*.json rows with an accuracy and a size) and the demo's stages.
"""
import html
import json
from pathlib import Path

from .errors import EdgeError
from .util.atomic import atomic_dir


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_layers(manifest, path):
    plt = _plt()
    layers = manifest["layers"]
    names = [f"{i}: {L['name'][-24:]}" for i, L in enumerate(layers)]
    ins = [L.get("instructions") or 0 for L in layers]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(layers) + 1.5))
    bars = ax.barh(range(len(layers)), ins, color=["#3b75af" if L["op"] in ("QConv", "QGemm") else "#9bbbd9"
                                                     for L in layers])
    for b, L, n in zip(bars, layers, ins):
        if n and L["op"] in ("QConv", "QGemm"):
            ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {L['macs'] / n:.2f} MAC/instr",
                    va="center", fontsize=7)
    ax.set_yticks(range(len(layers)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("instructions (QEMU -icount)")
    ax.set_title(f"{manifest['build_id']}: instructions per layer")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_memory(prog, manifest, path):
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    plan = prog.plan
    n = len(prog.layers)
    for i, (name, off) in enumerate(sorted(prog.offsets.items(), key=lambda kv: kv[1])):
        life = plan.lifetimes.get(name)
        if life is None:
            continue
        x0, x1 = max(life.first, -1), min(life.last, n)
        ax.add_patch(plt.Rectangle((x0 - 0.4, off), x1 - x0 + 0.8, prog.sizes[name], alpha=0.55,
                                   color=f"C{i % 10}", lw=0.5, ec="k"))
    for node, off in plan.scratch_offsets.items():
        i = next(k for k, L in enumerate(prog.layers) if L.name == node)
        ax.add_patch(plt.Rectangle((i - 0.4, off), 0.8, plan.scratch_sizes[node], fill=False, hatch="//",
                                   ec="gray", lw=0.5))
    ax.axhline(prog.arena_lower_bound, color="r", ls="--", lw=1, label=f"liveness bound {prog.arena_lower_bound} B")
    ax.axhline(prog.arena_bytes, color="k", lw=1, label=f"arena {prog.arena_bytes} B")
    ax.set_xlim(-1.5, n + 0.5)
    ax.set_ylim(0, prog.arena_bytes * 1.08 + 1)
    ax.set_xlabel("layer (time)")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title("arena over time (hatched: scratch)")
    ax.legend(fontsize=7, loc="upper right")
    wb = [L.get("weight_bytes", 0) for L in manifest["layers"]]
    ax2.bar(range(len(wb)), wb, color="#5a9e6f")
    ax2.set_xlabel("layer")
    ax2.set_ylabel("bytes in flash")
    ax2.set_title(f"flash by layer ({sum(wb)} B of constants)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_size_points(results_dir):
    """[(series, label, size_bytes, accuracy %)] from bench result files with rows."""
    pts = []
    for p in sorted(Path(results_dir).glob("*.json")) if results_dir and Path(results_dir).is_dir() else []:
        try:
            doc = json.loads(p.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        for r in doc.get("rows", []) if isinstance(doc, dict) else []:
            if not isinstance(r, dict):
                continue
            acc = r.get("accuracy", r.get("test_acc"))
            size = r.get("model_bytes", r.get("weight_bytes"))
            if isinstance(acc, (int, float)) and isinstance(size, (int, float)) and size > 0:
                acc = acc * 100 if acc <= 1.0 else acc
                label = next((r[k] for k in ("config", "method", "model") if r.get(k)), "")
                pts.append((p.stem, str(label), float(size), float(acc)))
    return pts


def plot_accuracy_size(points, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, series in enumerate(sorted({p[0] for p in points})):
        sel = [p for p in points if p[0] == series]
        ax.scatter([p[2] for p in sel], [p[3] for p in sel], label=series, color=f"C{k}")
        for p in sel:
            ax.annotate(p[1][:28], (p[2], p[3]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("model bytes (weights)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy against model size across compression settings")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_report(build_dir, out_dir=None, results_dir="bench/results"):
    """Write report.md, report.html and the PNGs; returns the output folder."""
    from .boards import load_board
    from .ir import load
    from .lower.mcu import lower_mcu
    build_dir = Path(build_dir)
    mf = build_dir / "manifest.json"
    if not mf.is_file():
        raise EdgeError(f"{build_dir}: not a build folder (no manifest.json)")
    manifest = json.loads(mf.read_text())
    out_dir = Path(out_dir or build_dir / "report")
    with atomic_dir(out_dir) as tmp:
        figs = []
        plot_layers(manifest, tmp / "layers.png")
        figs.append(("Instructions per layer", "layers.png"))
        if manifest["target"] == "mcu":
            board_file = build_dir / manifest.get("board_file", "")
            board = load_board(board_file if board_file.is_file() else manifest["board"])
            kernels = [k for k in manifest.get("kernels", ["ref"]) if k != "tvm"] or ["ref"]  # tvm: not an isa
            prog = lower_mcu(load(build_dir / "model.edg"), board, kernels[0] if len(kernels) == 1 else "auto")
            plot_memory(prog, manifest, tmp / "memory.png")
            figs.append(("Memory map: arena over time, flash by layer", "memory.png"))
        pts = accuracy_size_points(results_dir)
        if pts:
            plot_accuracy_size(pts, tmp / "accuracy_size.png")
            figs.append(("Accuracy against model size", "accuracy_size.png"))
        from .backends_mcu import format_summary
        summary = format_summary(manifest) if manifest["target"] == "mcu" else json.dumps(manifest["summary"], indent=2)
        md = [f"# edgesdk report: {manifest['build_id']}", "",
              f"target `{manifest['target']}`, board `{manifest['board']}`", "", "```", summary.rstrip(), "```", ""]
        for title, png in figs:
            md += [f"## {title}", "", f"![{title}]({png})", ""]
        (tmp / "report.md").write_text("\n".join(md))
        body = "".join(f"<h2>{html.escape(t)}</h2><img src='{p}' style='max-width:100%'>" for t, p in figs)
        (tmp / "report.html").write_text(
            f"<!doctype html><meta charset='utf-8'><title>edgesdk report {html.escape(manifest['build_id'])}</title>"
            f"<body style='font-family:sans-serif;max-width:1100px;margin:auto'>"
            f"<h1>edgesdk report: {html.escape(manifest['build_id'])}</h1><pre>{html.escape(summary)}</pre>{body}</body>")
    return out_dir
