"""The mcu target's build: lower -> emit C -> compile two images -> measure on the emulator.

Images:
- firmware.elf: the model + the host-in-the-loop server (runtime/hil): what `flash`,
  `run`, `validate` and `finetune` talk to.
- selftest.elf: the model + a main that runs it once on a real input compiled into the
  image and prints instruction counts (total and per layer) and the output. The build
  runs it under QEMU -icount to report instructions per inference and to check the
  device's output against the reference interpreter bit for bit.
"""
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import DeviceError, EdgeError
from .paths import kernels_dir, runtime_dir, targets_dir

FORMAT = 1


def _kernel_sources(prog):
    """The C files of every kernel the program calls, with their _ref twins (fallbacks)."""
    files = set()
    for L in prog.layers:
        if L.tvm is not None:
            continue  # TVM-generated C is printed into model.c
        for isa in {L.isa, "ref"}:
            p = kernels_dir() / f"ek_{L.kernel}_{isa}.c"
            if not p.is_file():
                raise EdgeError(f"layer {L.name}: kernel source {p.name} is missing from {kernels_dir()}")
            files.add(p)
    return sorted(files)


def _hil_sources():
    from .hil.firmware import rig_sources
    return rig_sources("mcu")


def quantize_sample(graph, sample):
    """A float sample -> the int8 bytes the device's input buffer takes (NHWC for 4-D)."""
    from .quant import quantize_inputs
    name = graph.inputs[0]
    t = graph.tensors[name]
    if sample is None:
        rng = np.random.default_rng(0)
        q = rng.integers(-128, 128, size=t.shape, dtype=np.int64).astype(np.int8)
    else:
        q = quantize_inputs(graph, {name: np.asarray(sample, np.float32).reshape(t.shape)})[name]
    return q


def to_device_layout(arr, layout):
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1)) if layout == "NHWC" else np.ascontiguousarray(arr)


def from_device_layout(flat, shape, layout):
    if layout == "NHWC":
        n, c, h, w = shape
        return flat.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return flat.reshape(shape)


def parse_selftest(text):
    instr = re.search(r"EK_INSTR (\d+)", text)
    layers = {int(i): int(n) for i, n in re.findall(r"EK_LAYER (\d+) (\d+)", text)}
    outs = {int(i): bytes.fromhex(h) for i, h in re.findall(r"EK_OUT (\d+) ([0-9a-f]*)", text)}
    return (int(instr.group(1)) if instr else None), layers, outs, "EK_DONE" in text


def _c_project_makefile(board, kernel_files):
    cflags = " ".join(board.cflags)
    return f"""# Standalone build of this model's firmware (edgesdk writes it; `make` rebuilds firmware.elf).
CC = arm-none-eabi-gcc
CFLAGS = {cflags} -O2 -std=gnu11 -ffunction-sections -fdata-sections -Iinclude
LDFLAGS = {cflags} -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -T link.ld
SRCS = model.c {' '.join('kernels/' + p.name for p in kernel_files)} $(wildcard runtime/*.c)
firmware.elf: $(SRCS)
\t$(CC) $(CFLAGS) $(SRCS) $(LDFLAGS) -o $@
"""


def build_mcu(graph, board, out_dir, *, kernels="auto", measure=True, progress=None, selftest_input=None,
              timeout=300, extra_c=None, extra_sources=(), extra_files=None, train=None):
    """Build `graph` (integer) for an mcu `board` into `out_dir`.

    extra_c {file name: C text} and extra_sources [paths] are compiled into firmware.elf
    (the on-device training runtime uses this); `train` is recorded in the manifest.
    """
    from .analysis import analyze
    from .codegen.mcu import emit_model, c_array
    from .ir import save
    from .lower.mcu import lower_mcu
    from .package import arm
    from .pipeline import BuildResult, Progress, model_hash, write_build
    from .hil.firmware import rig_defines
    from .reference import run as reference_run

    progress = progress or Progress(quiet=True)
    out_dir = Path(out_dir)
    with progress.stage("lower") as s:
        prog = lower_mcu(graph, board, kernels)
        s.result = (f"{len(prog.layers)} layers, {','.join(sorted({L.isa for L in prog.layers}))} kernels, "
                    f"arena {prog.arena_bytes} B (bound {prog.arena_lower_bound})")

    with tempfile.TemporaryDirectory(prefix="ek_build_") as tmp:
        tmp = Path(tmp)
        save(graph, tmp / "model.edg")
        mhash = model_hash(tmp / "model.edg")
        build_id = f"{mhash:08x}-mcu-{board.name}-{'-'.join(sorted({L.isa for L in prog.layers}))}"
        with progress.stage("codegen") as s:
            model_c, model_h = emit_model(prog, build_id, mhash)
            src = tmp / "src"
            (src / "kernels").mkdir(parents=True)
            (src / "include").mkdir()
            (src / "runtime").mkdir()
            (src / "model.c").write_text(model_c)
            (src / "include" / "model.h").write_text(model_h)
            kfiles = _kernel_sources(prog)
            for p in kfiles:
                shutil.copy2(p, src / "kernels" / p.name)
            for p in [*(kernels_dir() / "include").glob("*.h"), *(runtime_dir() / "include").glob("*.h"),
                      *(runtime_dir() / "platform").glob("*.h"), *(runtime_dir() / "hil").glob("*.h")]:
                shutil.copy2(p, src / "include" / p.name)
            for p in [*_hil_sources(), *(runtime_dir() / "platform").glob("*.c"), targets_dir() / "mcu" / "startup.c",
                      *extra_sources]:
                shutil.copy2(p, src / "runtime" / p.name)
            for p in {q.parent for q in extra_sources}:
                for h in p.glob("*.h"):
                    shutil.copy2(h, src / "include" / h.name)
            for name, text in (extra_c or {}).items():
                (src / name).write_text(text)
            (src / "link.ld").write_text(arm.linker_script(board))
            (src / "Makefile").write_text(_c_project_makefile(board, kfiles))
            sample_q = quantize_sample(graph, selftest_input)
            in_layout = prog.inputs[0][3]
            dev_in = to_device_layout(sample_q, in_layout).reshape(-1).view(np.uint8)
            (src / "selftest_input.c").write_text(
                "#include <stdint.h>\n" + c_array("ek_selftest_input_", dev_in).replace("static const", "const")
                .replace("ek_selftest_input_", "ek_selftest_input")
                + f"const uint32_t ek_selftest_input_bytes = {dev_in.size}u;\n")
            s.result = f"model.c {len(model_c) // 1024} KB, {len(kfiles)} kernel files"

        ksrc = [src / "kernels" / p.name for p in kfiles]
        inc = [src / "include"]
        with progress.stage("compile firmware") as s:
            fw = arm.compile_firmware([src / "model.c", *ksrc, *[src / "runtime" / p.name for p in _hil_sources()],
                                       *[src / "runtime" / p.name for p in extra_sources],
                                       *[src / name for name in (extra_c or {})]],
                                      board, tmp / "firmware.elf", include_dirs=inc,
                                      # host-file bulk transfers on emulators (~15x faster than
                                      # the UART), per-layer counts for `edgesdk run`
                                      defines={**rig_defines(board), "EK_LAYER_TIMING": None})
            s.result = f"flash {fw.flash_bytes} B, RAM {fw.ram_bytes} B"
        with progress.stage("compile selftest") as s:
            st = arm.compile_firmware([src / "model.c", *ksrc, runtime_dir() / "selftest" / "ek_selftest.c",
                                       src / "selftest_input.c"], board, tmp / "selftest.elf",
                                      include_dirs=inc, defines={"EK_LAYER_TIMING": None})
            s.result = "ok"

        instructions, layer_counts, verdict = None, {}, None
        if measure and board.emulated:
            with progress.stage("run on emulator") as s:
                r = arm.run_firmware(tmp / "selftest.elf", board, timeout=timeout)
                if r.timed_out or r.exit_code != 0:
                    raise DeviceError(f"self-test of {build_id} on {board.name} failed "
                                      f"(exit {r.exit_code}, timed out {r.timed_out}): {r.text[-300:]}")
                instructions, layer_counts, outs, done = parse_selftest(r.text)
                ref = reference_run(graph, {graph.inputs[0]: sample_q})
                mismatches = []
                for j, (name, root, shape, layout, q) in enumerate(prog.outputs):
                    dev = from_device_layout(np.frombuffer(outs.get(j, b""), np.int8), shape, layout) \
                        if len(outs.get(j, b"")) == int(np.prod(shape)) else None
                    if dev is None or not np.array_equal(dev, ref[name]):
                        mismatches.append(name)
                verdict = "bit-exact" if not mismatches else f"MISMATCH on {', '.join(mismatches)}"
                if mismatches:
                    raise DeviceError(f"self-test output of {build_id} differs from the reference on {mismatches}")
                s.result = f"{instructions:,} instructions, output {verdict}"

        stats = analyze(graph, plan_arena=False)  # the arena comes from the lowering
        layers = []
        for i, L in enumerate(prog.layers):
            layers.append({"name": L.name, "op": L.op, "impl": L.impl, "macs": int(L.macs),
                           "arena_offset": int(prog.offsets[L.output]), "out_bytes": int(prog.sizes[L.output]),
                           "weight_bytes": int(sum(a.nbytes for a in L.consts.values())),
                           "weight_bits": int(getattr(L, "weight_bits", 8)),
                           "instructions": layer_counts.get(i)})

        def io_entry(e):
            name, root, shape, layout, q = e
            d = {"name": name, "shape": list(shape), "dtype": "s8", "layout": layout}
            if q is not None:
                d["quant"] = {"scale": np.asarray(q.scale).reshape(-1).tolist(),
                              "zero_point": np.asarray(q.zero_point).reshape(-1).tolist()}
            return d

        macs = int(prog.macs)
        summary = {"flash_bytes": fw.flash_bytes, "ram_bytes": fw.ram_bytes, "arena_bytes": prog.arena_bytes,
                   "arena_lower_bound": prog.arena_lower_bound, "scratch_bytes": prog.scratch_bytes,
                   "weight_bytes": prog.weight_bytes, "macs": macs, "instructions": instructions,
                   "macs_per_instruction": round(macs / instructions, 3) if instructions else None,
                   "selftest": verdict, "flash_limit": fw.flash_limit, "ram_limit": fw.ram_limit,
                   "params": int(stats.totals.params)}
        manifest = {"format": FORMAT, "target": "mcu", "board": board.name, "board_file": f"boards/{board.path.name}",
                    "build_id": build_id, "model_hash": mhash, "image": "firmware.elf", "selftest_image": "selftest.elf",
                    "kernels": sorted({L.isa for L in prog.layers}),
                    "inputs": [io_entry(e) for e in prog.inputs], "outputs": [io_entry(e) for e in prog.outputs],
                    "layers": layers, "summary": summary, "train": train}
        text = format_summary(manifest)
        files = {"model.edg": tmp / "model.edg", "firmware.elf": tmp / "firmware.elf",
                 "selftest.elf": tmp / "selftest.elf", f"boards/{board.path.name}": board.path,
                 "summary.txt": text, **(extra_files or {})}
        for p in src.rglob("*"):
            if p.is_file():
                files[str(Path("src") / p.relative_to(src))] = p
        write_build(out_dir, files, manifest)
    return BuildResult(out_dir, manifest, text, prog, progress.times)


def _kb(n):
    return f"{n / 1024:.1f} KB"


def format_summary(manifest):
    """The build summary table: per layer, then totals (what `edgesdk build` prints)."""
    s = manifest["summary"]
    rows = [f"{'layer':<28} {'op':<15} {'kernel':<22} {'MACs':>10} {'instr':>11} {'MAC/instr':>9}"]
    for L in manifest["layers"]:
        ins = L.get("instructions")
        mpi = f"{L['macs'] / ins:.2f}" if ins and L["op"] in ("QConv", "QGemm") else ""
        rows.append(f"{L['name'][:28]:<28} {L['op']:<15} {L['impl']:<22} {L['macs']:>10,} "
                    f"{(f'{ins:,}' if ins else '-'):>11} {mpi:>9}")
    ins = s.get("instructions")
    rows += ["",
             f"board              {manifest['board']} (kernels: {', '.join(manifest['kernels'])})",
             f"flash              {s['flash_bytes']:,} B of {s['flash_limit']:,} ({_kb(s['weight_bytes'])} weights)",
             f"RAM                {s['ram_bytes']:,} B of {s['ram_limit']:,}",
             f"arena              {s['arena_bytes']:,} B (liveness lower bound {s['arena_lower_bound']:,} B, "
             f"incl. {s['scratch_bytes']:,} B scratch)",
             f"MACs               {s['macs']:,}",
             f"instructions/inf.  {f'{ins:,}' if ins else 'not measured'}"
             + (f"  ({s['macs_per_instruction']} MAC/instruction)" if ins else ""),
             f"self-test          {s.get('selftest') or 'not run'}"]
    low = {}
    for L in manifest["layers"]:
        if L.get("weight_bits", 8) < 8:
            low.setdefault(L["weight_bits"], []).append(L["name"])
    if low:  # packed low-bit weights (kernels/include/ek_s4.h)
        parts = [f"{len(v)} layer(s) {b}-bit" for b, v in sorted(low.items(), reverse=True)]
        note = "; 2-bit weights ship in the 4-bit format" if any(b < 4 for b in low) else ""
        rows.append(f"low-bit weights    {', '.join(parts)}, packed two per byte (s4 kernels){note}")
    return "\n".join(rows) + "\n"
