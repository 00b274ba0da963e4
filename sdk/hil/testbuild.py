"""A complete build directory for the rig's own test model (runtime/hil/testmodel):
y = clamp(3x + 1) over int8, 2000 elements, as firmware plus a model.edg that says the
same thing as a 1x1 QConv (weight 3, bias 1, requantization multiplier exactly 1.0).

It lets the rig, `edgesdk run` and `edgesdk validate` be tested end to end, against the
reference interpreter, without the model compiler; real builds go through the same code.
"""
import json
import zlib
from pathlib import Path

import numpy as np

from ..util.atomic import atomic_dir
from .firmware import HOST, build_host, build_mcu, build_riscv, hil_dir

N = 2000
SHAPE = (1, 1, 40, 50)


def affine_graph():
    """The test model as an IR graph the reference interpreter runs."""
    from ..ir import Graph, Node, QuantParams, Tensor

    g = Graph("hil_affine")
    q = QuantParams(scale=[1.0], zero_point=[0])
    g.add_tensor(Tensor("x", SHAPE, "s8", quant=q))
    g.add_const("w", np.full((1, 1, 1, 1), 3, np.int8), "s8")
    g.add_const("b", np.array([1], np.int32), "s32")
    # multiplier 2**30 with shift 1 is exactly 1.0: (acc * 2**30 + 2**29) >> 30 == acc.
    g.add_tensor(Tensor("y", SHAPE, "s8", quant=QuantParams(scale=[1.0], zero_point=[0],
                                                           multiplier=[1 << 30], shift=[1])))
    g.add_node(Node("affine", "QConv", ["x", "w", "b"], ["y"],
                    attrs={"x_zp": 0, "y_zp": 0, "multiplier": [1 << 30], "shift": [1],
                           "act_min": -128, "act_max": 127, "group": 1}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def _target_of(board):
    from ..boards import load_board
    return load_board(board).target


def write_affine_build(out, board="mps2-an386", spin=0):
    """Writes BUILD (manifest.json, model.edg, the firmware image); returns its path.

    board "host" gives a host-native executable (`app`) run on a pty."""
    from ..ir import save

    out = Path(out)
    with atomic_dir(out) as tmp:
        save(affine_graph(), tmp / "model.edg")
        model_hash = zlib.crc32((tmp / "model.edg").read_bytes()) & 0xFFFFFFFF
        build_id = f"{model_hash:08x}-hil-affine-{board}"
        defines = {"EK_AFFINE_N": N, "EK_AFFINE_SPIN": spin, "EK_AFFINE_HASH": f"{model_hash}u",
                   "EK_AFFINE_BUILD_ID": f'"{build_id}"'}
        src = [hil_dir() / "testmodel" / "ek_affine_model.c"]
        if board == HOST:
            image = "app"
            build_host(src, tmp / image, defines)
            target = "host"
        elif _target_of(board) == "riscv":
            from ..boards import load_board
            image = "rig" if load_board(board).runner == "qemu-user" else "firmware.elf"
            build_riscv(src, board, tmp / image, defines)
            target = "riscv"
        else:
            image = "firmware.elf"
            build_mcu(src, board, tmp / image, defines)
            target = "mcu"
        io = {"shape": list(SHAPE), "dtype": "s8", "layout": "NCHW",
              "quant": {"scale": [1.0], "zero_point": [0]}}
        manifest = {
            "format": 1, "target": target, "board": board, "build_id": build_id,
            "model_hash": model_hash, "image": image,
            "inputs": [{"name": "x", **io}], "outputs": [{"name": "y", **io}],
            "layers": [{"name": "affine", "op": "QConv", "impl": "ek_affine_model", "macs": N,
                        "arena_offset": 0, "out_bytes": N}],
            "summary": {"arena_bytes": 2 * N, "weight_bytes": 2, "macs": N, "instructions": None},
            "train": None,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out
