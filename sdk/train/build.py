"""Build a model for on-device training: int8 backbone + FP32 trainable head (mcu)."""
import numpy as np

from ..errors import EdgeError, FitError
from ..paths import kernels_dir, runtime_dir


def _train_sources():
    k = kernels_dir()
    return [runtime_dir() / "train" / "ek_train.c", k / "ek_linear_f32_ref.c", k / "ek_matmul_f32_ref.c",
            k / "ek_train_f32_ref.c"]


def build_trainable(model, board, out_dir, calib, *, last_k=1, mode="last", input_shapes=None,
                    example_inputs=None, kernels="auto", measure=True, quiet=False, cache_samples=0):
    """Build `model` so that its last `last_k` fully connected layers (mode="last"), or
    only their biases (mode="bias"), train on the device. `cache_samples` int8 feature
    vectors are kept on the device so that epochs after the first skip the backbone.
    Returns a BuildResult whose manifest["train"] describes the head and its memory."""
    from ..backends_mcu import build_mcu
    from ..boards import load_board
    from ..codegen.mcu.train_emit import emit_train_head
    from ..pipeline import Progress, load_graph, prepare_graph
    from ..quant import quantize
    from .head import full_backprop_bytes, split_head, training_memory

    if mode not in ("last", "bias"):
        raise EdgeError(f"training mode must be 'last' or 'bias', not {mode!r}")
    board = load_board(board)
    if board.target != "mcu":
        raise EdgeError(f"on-device training builds target mcu boards; {board.name} is a {board.target} board")
    if not isinstance(cache_samples, int) or not 0 <= cache_samples <= 65535:
        raise EdgeError(f"--train-cache must be an integer from 0 to 65535, got {cache_samples!r}")
    if calib is None or len(calib) == 0:
        raise EdgeError("on-device training needs --calib data to quantize the backbone")
    prog = Progress(quiet)
    with prog.stage("import") as s:
        graph = prepare_graph(load_graph(model, input_shapes, example_inputs))
        s.result = f"{len(graph.nodes)} nodes"
    with prog.stage("split head") as s:
        backbone, head, feat = split_head(graph, last_k)
        s.result = f"{len(backbone.nodes)} backbone nodes, head {' -> '.join(str(L.w.shape[1]) for L in head)} -> {head[-1].w.shape[0]}"
    with prog.stage("quantize backbone") as s:
        backbone_q = quantize(backbone, calib)
        q = backbone_q.tensors[backbone_q.outputs[0]].quant
        if q is None or q.scale.size != 1:
            raise EdgeError(f"backbone output {feat!r} has no per-tensor quantization")
        s.result = f"feature {feat} scale {float(q.scale.reshape(-1)[0]):.4g}"
    train_bytes = training_memory(head, mode, cache_samples)
    full = full_backprop_bytes(graph)
    text = emit_train_head(head, float(q.scale.reshape(-1)[0]), int(q.zero_point.reshape(-1)[0]), mode, train_bytes,
                           cache_slots=cache_samples)
    train = {"mode": mode, "last_k": len(head), "feature": feat,
             "layers": [{"name": L.name, "in": int(L.w.shape[1]), "out": int(L.w.shape[0]), "relu": L.relu}
                        for L in head],
             "n_classes": int(head[-1].w.shape[0]), "param_floats": int(sum(L.w.size + L.b.size for L in head)),
             "train_bytes": int(train_bytes), "full_backprop_bytes": int(full),
             "feature_scale": float(q.scale.reshape(-1)[0]), "feature_zp": int(q.zero_point.reshape(-1)[0]),
             "cache_slots": int(cache_samples)}
    if train_bytes > board.ram.size:
        raise FitError(f"on-device training needs {train_bytes} B of training memory but board {board.name} "
                       f"has {board.ram.size} B of RAM; train fewer layers (--train-last), biases only (--train bias) or cache fewer samples (--train-cache)")
    import io
    buf = io.BytesIO()
    np.savez(buf, **{f"w{i}": L.w for i, L in enumerate(head)}, **{f"b{i}": L.b for i, L in enumerate(head)},
             relu=np.array([L.relu for L in head]))
    result = build_mcu(backbone_q, board, out_dir, kernels=kernels, measure=measure, progress=prog,
                       selftest_input=np.asarray(calib)[:1], extra_c={"train_head.c": text},
                       extra_sources=_train_sources(), train=train,
                       extra_files={"train_head.npz": buf.getvalue()})
    return result
