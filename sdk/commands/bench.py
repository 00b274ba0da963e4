"""`edgesdk bench`: measure a build on its board: instructions per inference and per layer,
MACs per instruction, and (with --compare) the same model with other kernel variants."""
import click


@click.command("bench")
@click.argument("build", type=click.Path(file_okay=False))
@click.option("--runs", type=int, default=5, show_default=True, help="Inferences to time (random inputs).")
@click.option("--compare", "variants", multiple=True, type=click.Choice(["ref", "dsp", "mve"]),
              help="Also build the same model with these kernel variants and compare (mcu). Repeatable.")
@click.option("--board", default=None, help="Run on this board instead of the build's (same target).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the figures as JSON.")
def command(build, runs, variants, board, json_out):
    """Benchmark BUILD on its (emulated) board.

    Counts are exact instructions under QEMU -icount (cycles on real silicon). With
    --compare, the build's model.edg is rebuilt with the other kernel variants and each
    is run once on the emulator, in the same invocation, so the ratios are like for like.

    \b
    Examples:
      edgesdk bench build/m4 --runs 10
      edgesdk bench build/m55 --compare ref --compare dsp --json bench.json
    """
    import json
    import tempfile
    from pathlib import Path

    import numpy as np

    from ..errors import EdgeError
    from ..hil import open_device

    build = Path(build)
    mf = build / "manifest.json"
    if not mf.is_file():
        raise EdgeError(f"{build}: not a build folder (no manifest.json)")
    manifest = json.loads(mf.read_text())
    if runs < 1:
        raise EdgeError(f"--runs must be at least 1, got {runs}")
    if manifest.get("target") == "gpu":   # a plan for an OpenCL/CUDA device, not rig firmware
        from ..gpu.device import open_gpu_device as open_device
    rng = np.random.default_rng(0)
    counts, layer_counts, unit = [], None, ""
    with open_device(build, board=board) as dev:
        for _ in range(runs):
            case = [rng.integers(-128, 128, size=s["shape"], dtype=np.int64).astype(np.int8)
                    for s in manifest["inputs"]]
            r = dev.infer(case)
            counts.append(int(r.count))
            unit = r.unit
        t = dev.timing()
        layer_counts = list(t.layers)
    macs = int(manifest["summary"].get("macs") or 0)
    med = int(np.median(counts))
    click.echo(f"{manifest['build_id']} on {board or manifest['board']}: median {med:,} {unit} per inference "
               f"over {runs} runs (min {min(counts):,}, max {max(counts):,})"
               + (f", {macs / med:.3f} MAC/{unit.rstrip('s') or 'unit'}" if macs and med else ""))
    rows = []
    if layer_counts:
        click.echo(f"\n{'layer':<30} {'kernel':<24} {'MACs':>10} {unit:>13} {'MAC/' + (unit.rstrip('s') or 'unit'):>12}")
        for L, n in zip(manifest["layers"], layer_counts):
            mpi = f"{L['macs'] / n:.2f}" if n and L["op"] in ("QConv", "QGemm") else ""
            click.echo(f"{L['name'][:30]:<30} {L['impl']:<24} {L['macs']:>10,} {n:>13,} {mpi:>12}")
            rows.append({"name": L["name"], "impl": L["impl"], "macs": L["macs"], "count": n})
    result = {"build_id": manifest["build_id"], "unit": unit, "runs": counts, "median": med, "macs": macs,
              "layers": rows, "variants": {}}
    if variants:
        if manifest["target"] != "mcu":
            raise EdgeError("--compare rebuilds with other mcu kernel variants; this build is for "
                            f"{manifest['target']}")
        from ..backends_mcu import build_mcu
        from ..boards import load_board
        from ..ir import load
        graph = load(build / "model.edg")
        b = load_board(board or manifest["board"])
        click.echo(f"\n{'kernels':<10} {'instructions':>14} {'MAC/instr':>10} {'vs this build':>14}")
        click.echo(f"{'/'.join(manifest['kernels']):<10} {manifest['summary']['instructions'] or 0:>14,} "
                   f"{manifest['summary'].get('macs_per_instruction') or 0:>10} {'1.00x':>14}")
        for v in variants:
            with tempfile.TemporaryDirectory() as tmp:
                r = build_mcu(graph, b, Path(tmp) / "b", kernels=v)
            ins = r.summary["instructions"]
            ratio = ins / manifest["summary"]["instructions"] if manifest["summary"]["instructions"] else 0
            click.echo(f"{v:<10} {ins:>14,} {r.summary['macs_per_instruction']:>10} {ratio:>13.2f}x")
            result["variants"][v] = {"instructions": ins, "macs_per_instruction": r.summary["macs_per_instruction"]}
    if json_out:
        from ..util.atomic import write_text
        write_text(json_out, json.dumps(result, indent=2))
        click.echo(f"\nwritten {json_out}")
