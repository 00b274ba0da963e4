"""Shared by the mcu tests: run generated model code on the host against the reference."""
import numpy as np

from edgesdk.boards import load_board
from edgesdk.lower.mcu import lower_mcu
from edgesdk.package.host import compile_program, run_program
from edgesdk.quant import quantize_inputs
from edgesdk.reference import run


def host_check(q, inputs, tmp_path, board="mps2-an386"):
    """Lower `q` with the _ref kernels, compile its model.c for the host, and assert every
    sample's output equals the integer reference bit for bit. Returns the McuProgram."""
    prog = lower_mcu(q, load_board(board), kernels="ref")
    hm = compile_program(prog, tmp_path)
    name, out = q.inputs[0], q.outputs[0]
    for i in range(len(inputs)):
        ref = run(q, quantize_inputs(q, {name: inputs[i:i + 1]}))[out]
        np.testing.assert_array_equal(run_program(prog, hm, q, inputs[i:i + 1]), ref)
    return prog
