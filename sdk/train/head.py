"""Which part of a model trains on the device, and what that costs in memory.

The trainable head is the chain of fully connected layers at the end of the float
graph (Gemm nodes, with fused ReLU between them). Everything before the head's input
is the frozen backbone, quantized to int8 and run by the inference engine.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import EdgeError

F32 = 4


@dataclass
class HeadLayer:
    name: str
    w: np.ndarray       # [out, in] float32
    b: np.ndarray       # [out] float32
    relu: bool          # ReLU after this layer

    @property
    def shape(self):
        return self.w.shape


def _gemm_weights(graph, node):
    a = node.attrs
    if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or a.get("transA", 0):
        raise EdgeError(f"node {node.name}: only plain Gemm (alpha=beta=1, transA=0) can be trained on device")
    w = graph.const(node.inputs[1])
    if w is None:
        raise EdgeError(f"node {node.name}: Gemm weights are not constant, nothing to train")
    w = np.asarray(w, np.float32)
    if not a.get("transB", 0):
        w = w.T
    b = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    b = np.zeros(w.shape[0], np.float32) if b is None else np.asarray(b, np.float32).reshape(-1)
    return np.ascontiguousarray(w), b.copy()


def split_head(graph, last_k=1):
    """(backbone Graph ending at the head's input, [HeadLayer], feature tensor name)."""
    from ..passes import run_passes
    if last_k < 1:
        raise EdgeError(f"--train-last must be at least 1, got {last_k}")
    prod = graph.producers()
    cons = graph.consumers()
    out = graph.outputs[0]
    node = prod.get(out)
    if node is not None and node.op == "Softmax":   # training applies its own softmax in the loss
        out = node.inputs[0]
        node = prod.get(out)
    head = []
    while node is not None and node.op == "Gemm" and len(head) < last_k:
        act = node.attrs.get("activation")
        if head and act not in ("relu", None):
            raise EdgeError(f"node {node.name}: activation {act!r} inside the trainable head; only ReLU is supported")
        if not head and act:
            raise EdgeError(f"node {node.name}: the last trainable layer has a fused {act}; it must output logits")
        w, b = _gemm_weights(graph, node)
        head.insert(0, HeadLayer(node.name, w, b, relu=act == "relu"))
        feat = node.inputs[0]
        if len(cons.get(feat, [])) > 1:
            break
        node = prod.get(feat)
    if not head:
        raise EdgeError(f"model {graph.name} has no trainable layers at its end (a fully connected classifier, "
                        f"Gemm/Linear, is needed; found {prod[graph.outputs[0]].op if graph.outputs[0] in prod else 'none'})")
    if len(head) < last_k:
        raise EdgeError(f"--train-last {last_k}: the model ends with only {len(head)} fully connected layer(s)")
    feat = None
    for n in graph.nodes:
        if n.name == head[0].name:
            feat = n.inputs[0]
    backbone = graph.copy()
    backbone.outputs = [feat]
    backbone = run_passes(backbone, ["remove_dead"])
    if not backbone.nodes:
        raise EdgeError(f"model {graph.name}: nothing is left before the trainable head to run as the backbone")
    head[-1].relu = False
    return backbone, head, feat


def training_memory(head, mode="last", cache_slots=0):
    """Bytes of every static buffer the device training runtime uses (ek_train.h),
    including `cache_slots` int8 feature vectors of the feature cache."""
    total = 0
    widest = max(max(L.w.shape) for L in head)
    for L in head:
        out, inp = L.w.shape
        params = out if mode == "bias" else out * inp + out   # bias-only: weights stay in flash
        grads = params                                          # gb (+ gw)
        momentum = params
        total += F32 * (params + grads + momentum + inp)        # + the stored layer input
        if L.relu:
            total += 4 * ((out + 31) // 32)                     # 1-bit ReLU mask
    n_classes = head[-1].w.shape[0]
    state_floats = sum(L.b.size if mode == "bias" else L.w.size + L.b.size for L in head)
    total += F32 * (2 * n_classes + 2 * widest)                 # logits, dlogits, 2 gradient buffers
    total += 2 * (16 + F32 * state_floats)                      # two checkpoint slots
    total += cache_slots * head[0].w.shape[1]                   # int8 feature cache
    return total


def full_backprop_bytes(graph):
    """What training the whole float model by plain backprop would keep in memory:
    weights, their gradients and momentum in FP32, plus every activation (FP32) that
    the backward pass reads. The comparison point for the device runtime."""
    from ..analysis import analyze
    stats = analyze(graph, plan_arena=False)
    params = sum(L.params for L in stats.layers)
    acts = sum(int(np.prod(graph.tensors[n.outputs[0]].shape)) for n in graph.nodes)
    acts += sum(int(np.prod(graph.tensors[i].shape)) for i in graph.inputs)
    return F32 * (3 * params + acts)
