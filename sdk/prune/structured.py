"""Structured channel pruning that PHYSICALLY removes channels from a torch model.

The model is traced with torch.fx (shapes from one example forward). Every Conv/Linear
output opens a "channel space"; ops that keep channels aligned carry it (BatchNorm,
activations, pooling, depthwise convs, flatten with a spatial factor), residual adds
MERGE the spaces of their operands (union-find: a block's output and its shortcut lose
the same channels), concat lays spaces side by side. Spaces that reach the graph input
or output, or pass through anything not understood (reshape, grouped conv, a module
called twice...), are pinned and never pruned. Each unpinned merged space is one
"dependency group"; pruning keeps its channels with the largest L1 filter norms times
the following BatchNorm's scale (summed over the group's producers, each normalised) and slices every
affected weight, bias and BatchNorm buffer. The result is a smaller nn.Module of the
same classes: MACs really drop (edgesdk.prune.count_macs).
"""
import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import EdgeError
from .magnitude import check_ratio
from .masks import remove_masks

_PASS_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.Hardsigmoid,
                 nn.SiLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                 nn.AdaptiveMaxPool2d, nn.MaxPool1d, nn.AvgPool1d, nn.Dropout, nn.Identity)
_PASS_FUNCS = {torch.relu, F.relu, F.relu6, torch.sigmoid, F.hardswish, F.silu, torch.tanh, F.gelu,
               F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.dropout}
_PASS_METHODS = {"relu", "sigmoid", "tanh", "contiguous", "clone"}
_MERGE_FUNCS = {operator.add, torch.add, operator.mul, torch.mul, operator.sub, torch.sub}


@dataclass
class _Val:
    layout: list          # [(space_id, size)] along dim 1
    factor: int = 1       # elements per channel after a flatten


@dataclass
class _Space:
    size: int
    producers: list = field(default_factory=list)   # module names whose outputs open it
    pinned: str = ""                                 # why it cannot be pruned


class _Analysis:
    def __init__(self, model, example):
        self.model = model
        try:
            self.gm = fx.symbolic_trace(model)
        except Exception as e:
            raise EdgeError(f"structured pruning: {type(model).__name__} cannot be traced by torch.fx "
                            f"({type(e).__name__}: {e})") from None
        was = model.training
        model.eval()
        with torch.no_grad():
            ShapeProp(self.gm).propagate(example)
        model.train(was)
        self.spaces, self.parent = [], []
        self.records = {}          # module name -> (kind, in _Val, out _Val)
        self.opened_by = {}        # id(_Val) -> the Conv/Linear whose output it is
        self.bn_after = {}         # Conv name -> the BatchNorm that reads its output directly
        self._run()

    # union-find over spaces
    def new_space(self, size, producer=None, pinned=""):
        self.spaces.append(_Space(size, [producer] if producer else [], pinned))
        self.parent.append(len(self.parent))
        return len(self.spaces) - 1

    def find(self, s):
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def pin(self, val, why):
        if isinstance(val, _Val):
            for s, _ in val.layout:
                sp = self.spaces[s]
                sp.pinned = sp.pinned or why

    @staticmethod
    def _shape(node):
        tm = node.meta.get("tensor_meta")
        return tuple(tm.shape) if tm is not None and hasattr(tm, "shape") else None

    def _fresh(self, node, why):
        shape = self._shape(node)
        if shape is None or len(shape) < 2:
            return None
        return _Val([(self.new_space(shape[1], pinned=why), shape[1])])

    def _run(self):
        env = {}
        mods = dict(self.gm.named_modules())
        for node in self.gm.graph.nodes:
            args = [env.get(a.name) if isinstance(a, fx.Node) else None for a in node.args]
            ins = [a for a in args if isinstance(a, _Val)]
            out = None
            if node.op == "placeholder":
                out = self._fresh(node, "model input")
            elif node.op == "call_module":
                out = self._module(node, node.target, mods[node.target], args[0] if args else None)
            elif node.op == "call_function" and node.target in _PASS_FUNCS and ins:
                out = ins[0]
            elif node.op == "call_method" and node.target in _PASS_METHODS and ins:
                out = ins[0]
            elif node.op in ("call_function", "call_method") and node.target in _MERGE_FUNCS | {"add", "mul"}:
                out = self._merge(node, ins)
            elif node.op == "call_function" and node.target is torch.cat:
                out = self._cat(node, [env.get(a.name) for a in node.args[0]])
            elif (node.op == "call_function" and node.target is torch.flatten) or \
                    (node.op == "call_method" and node.target == "flatten"):
                out = self._flatten(node, ins[0] if ins else None)
            elif node.op == "output":
                outs = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
                for o in outs:
                    if isinstance(o, fx.Node):
                        self.pin(env.get(o.name), "model output")
            elif node.op == "get_attr":
                out = None
            else:
                for v in ins:
                    self.pin(v, f"{node.op} {getattr(node.target, '__name__', node.target)}")
                out = self._fresh(node, f"output of {node.name}")
            env[node.name] = out

    def _module(self, node, name, m, x):
        if name in self.records:
            self.pin(x, f"module {name} is called more than once")
            for v in self.records[name][1:]:
                self.pin(v, f"module {name} is called more than once")
            return self._fresh(node, f"module {name} is called more than once")
        if isinstance(m, (nn.Conv2d, nn.Conv1d)):
            if x is None or x.factor != 1:
                return self._fresh(node, f"input of {name} not tracked")
            if m.groups == 1:
                out = _Val([(self.new_space(m.out_channels, name), m.out_channels)])
                self.records[name] = ("conv", x, out)
                self.opened_by[id(out)] = name
            elif m.groups == m.in_channels == m.out_channels:
                out = x
                self.records[name] = ("depthwise", x, out)
            else:
                why = f"grouped conv {name} (groups={m.groups})"
                self.pin(x, why)
                out = _Val([(self.new_space(m.out_channels, name, pinned=why), m.out_channels)])
                self.records[name] = ("fixed", x, out)
            return out
        if isinstance(m, nn.Linear):
            shape = self._shape(node)
            if x is None or shape is None or len(shape) != 2:
                self.pin(x, f"Linear {name} on a non-flat input")
                out = _Val([(self.new_space(m.out_features, name, pinned=f"Linear {name} on a non-flat input"),
                             m.out_features)])
                self.records[name] = ("fixed", x, out)
                return out
            out = _Val([(self.new_space(m.out_features, name), m.out_features)])
            self.records[name] = ("linear", x, out)
            return out
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                self.pin(x, f"Flatten {name} with start_dim {m.start_dim}")
                return self._fresh(node, f"Flatten {name}")
            return self._flatten(node, x)
        if isinstance(m, _PASS_MODULES):
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                if x is None or x.factor != 1:
                    return self._fresh(node, f"input of {name} not tracked")
                self.records[name] = ("bn", x, x)
                if id(x) in self.opened_by:
                    self.bn_after[self.opened_by[id(x)]] = name
            return x
        self.pin(x, f"{type(m).__name__} {name}")
        return self._fresh(node, f"{type(m).__name__} {name}")

    def _merge(self, node, ins):
        if len(ins) == 1:
            return ins[0]
        a, b = ins[0], ins[1]
        if [s for _, s in a.layout] != [s for _, s in b.layout] or a.factor != b.factor:
            self.pin(a, f"{node.name}: operands with different channel layouts")
            self.pin(b, f"{node.name}: operands with different channel layouts")
            return a
        for (sa, _), (sb, _) in zip(a.layout, b.layout):
            self.union(sa, sb)
        return a

    def _cat(self, node, vals):
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if dim != 1 or any(not isinstance(v, _Val) or v.factor != 1 for v in vals):
            for v in vals:
                self.pin(v, f"{node.name}: concat not along channels")
            return self._fresh(node, f"{node.name}: concat not along channels")
        return _Val([seg for v in vals for seg in v.layout])

    def _flatten(self, node, x):
        start = node.args[1] if node.op == "call_function" and len(node.args) > 1 else 1
        if node.op == "call_method":
            start = node.args[1] if len(node.args) > 1 else 0
        in_shape = self._shape(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        if x is None or start != 1 or in_shape is None:
            self.pin(x, f"{node.name}: flatten not from dim 1")
            return self._fresh(node, f"{node.name}: flatten")
        f = x.factor
        for d in in_shape[2:]:
            f *= d
        return _Val(x.layout, f)

    # ---- groups -----------------------------------------------------------
    def groups(self):
        """root space -> {size, producers, pinned reasons, name}."""
        out = {}
        for s, sp in enumerate(self.spaces):
            r = self.find(s)
            g = out.setdefault(r, {"size": sp.size, "producers": [], "pinned": []})
            g["producers"] += sp.producers
            if sp.pinned:
                g["pinned"].append(sp.pinned)
        for g in out.values():
            g["name"] = g["producers"][0] if g["producers"] else "?"
            g["prunable"] = not g["pinned"] and bool(g["producers"])
        return out


def dependency_groups(model, input_shape):
    """The coupled channel groups of a model: [{name, size, producers, prunable, pinned}]."""
    a = _Analysis(model, torch.zeros(*input_shape))
    return [dict(g, root=r) for r, g in a.groups().items() if g["producers"]]


IMPORTANCES = ("l1bn", "taylor")


def _importance(model, analysis, root, group, taylor=None):
    """Per channel: L1 norm of each producer's filter times the scale of the BatchNorm
    right after it (|gamma| / sqrt(var + eps): a BN can undo any filter norm), each
    producer normalised by its mean, summed over the group. With `taylor` (producer ->
    first-order scores from _taylor_scores) those scores replace the weight criterion."""
    mods = dict(model.named_modules())
    score = torch.zeros(group["size"])
    for name in group["producers"]:
        if taylor is not None:
            s = taylor[name]
        else:
            w = mods[name].weight.detach()
            s = w.abs().reshape(w.shape[0], -1).sum(1)
            bn = analysis.bn_after.get(name)
            if bn is not None:
                b = mods[bn]
                gamma = b.weight.detach().abs() if b.affine else torch.ones_like(s)
                s = s * gamma / torch.sqrt(b.running_var.detach() + b.eps)
        score += s / s.mean().clamp_min(1e-12)
    return score


def _taylor_scores(model, analysis, producers, calib, batch=128):
    """First-order Taylor importance (Molchanov et al., CVPR 2019) on calibration data.

    Removing channel c of an activation a changes the loss by about -sum(a_c * dL/da_c);
    per sample that sum is taken over the spatial positions and squared, then averaged
    over the samples. The activation is the producer's BatchNorm output when it has one
    (removing the channel removes the BN's shift too), else the producer's own output.
    calib: (inputs, labels); the loss is the cross-entropy (model in eval mode)."""
    from ..zoo.train import labelled_tensors
    x, y = labelled_tensors(*calib, "Taylor importance calibration data")
    mods = dict(model.named_modules())
    taps = {p: analysis.bn_after.get(p, p) for p in producers}
    acts, scores, handles = {}, {p: 0.0 for p in producers}, []

    def keep(tap):
        def hook(_m, _i, out):
            out.retain_grad()
            acts[tap] = out
        return hook
    for tap in set(taps.values()):
        handles.append(mods[tap].register_forward_hook(keep(tap)))
    was = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].clone().requires_grad_(True)   # so activations get grads even if params are frozen
            acts.clear()
            loss = F.cross_entropy(model(xb), y[i:i + batch], reduction="sum")
            loss.backward()
            for p, tap in taps.items():
                a = acts[tap]
                contrib = (a.detach() * a.grad).reshape(a.shape[0], a.shape[1], -1).sum(2)
                scores[p] = scores[p] + (contrib ** 2).sum(0)
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was)
    return {p: s / len(x) for p, s in scores.items()}


def _layout_index(analysis, val, keep):
    idx, off = [], 0
    for s, size in val.layout:
        k = keep.get(analysis.find(s))
        idx.append(off + (k if k is not None else torch.arange(size)))
        off += size
    idx = torch.cat(idx) if idx else torch.arange(0)
    if val.factor > 1:
        idx = (idx[:, None] * val.factor + torch.arange(val.factor)[None, :]).reshape(-1)
    return idx


def _set_param(mod, name, value):
    old = getattr(mod, name)
    if isinstance(old, nn.Parameter):
        setattr(mod, name, nn.Parameter(value.clone(), requires_grad=old.requires_grad))
    else:
        setattr(mod, name, value.clone())


def channel_prune(model, input_shape, ratio=None, rates=None, inplace=False, importance="l1bn", calib=None):
    """Remove channels; returns the smaller model.

    ratio: one fraction in [0, 1) for every prunable dependency group; rates: {group name
    (its first producer layer) or any layer of the group: fraction} for layer-adaptive
    pruning (groups not named keep all channels). Masks (if any) are baked first.
    importance: "l1bn" (filter L1 norm times BN scale; no data) or "taylor" (first-order
    loss change on `calib` = (inputs, labels)).
    """
    if importance not in IMPORTANCES:
        raise EdgeError(f"channel_prune importance {importance!r}: choose one of {', '.join(IMPORTANCES)}")
    if importance == "taylor" and (not isinstance(calib, (tuple, list)) or len(calib) != 2):
        raise EdgeError("channel_prune: importance='taylor' needs calib=(inputs, labels)")
    if (ratio is None) == (rates is None):
        raise EdgeError("channel_prune: give exactly one of ratio= or rates=")
    if ratio is not None:
        ratio = check_ratio(ratio)
    if not inplace:
        model = copy.deepcopy(model)
    remove_masks(model)
    a = _Analysis(model, torch.zeros(*input_shape))
    groups = a.groups()
    prunable = {r: g for r, g in groups.items() if g["prunable"]}
    by_layer = {p: r for r, g in groups.items() for p in g["producers"]}
    want = {}
    if rates is not None:
        for layer, r in rates.items():
            if layer not in by_layer:
                raise EdgeError(f"channel_prune: layer {layer!r} is not a Conv/Linear of {type(model).__name__}")
            root = by_layer[layer]
            r = check_ratio(r, f"rate of layer {layer}")
            if root not in prunable:
                if r == 0:
                    continue
                why = "; ".join(sorted(set(groups[root]["pinned"]))) or "no producer"
                if any("grouped conv" in p for p in groups[root]["pinned"]):
                    raise EdgeError(f"channel_prune: layer {layer!r}: incompatible groups ({why}); "
                                    f"its channels cannot be removed")
                raise EdgeError(f"channel_prune: layer {layer!r} cannot lose channels ({why})")
            want[root] = r
    else:
        want = {r: ratio for r in prunable}
    if not prunable:
        raise EdgeError(f"channel_prune: model {type(model).__name__} has no prunable layers "
                        f"(every channel group reaches the input/output or an untracked op)")
    keep = {}
    taylor = None
    if importance == "taylor":
        to_prune = [p for root, r in want.items() if int(round(prunable[root]["size"] * (1 - r))) < prunable[root]["size"]
                    for p in prunable[root]["producers"]]
        taylor = _taylor_scores(model, a, to_prune, calib) if to_prune else {}
    for root, r in want.items():
        g = prunable[root]
        k = int(round(g["size"] * (1 - r)))
        if k < 1:
            raise EdgeError(f"channel_prune: layer {g['name']!r} would lose all its {g['size']} channels "
                            f"at rate {r}")
        if k == g["size"]:
            continue
        score = _importance(model, a, root, g, taylor)
        keep[root] = torch.sort(torch.topk(score, k).indices).values
    mods = dict(model.named_modules())
    with torch.no_grad():
        for name, (kind, x, out) in a.records.items():
            m = mods[name]
            if kind == "fixed":
                continue
            ii = _layout_index(a, x, keep)
            if kind == "conv":
                oi = _layout_index(a, out, keep)
                _set_param(m, "weight", m.weight[oi][:, ii])
                if m.bias is not None:
                    _set_param(m, "bias", m.bias[oi])
                m.in_channels, m.out_channels = len(ii), len(oi)
            elif kind == "depthwise":
                _set_param(m, "weight", m.weight[ii])
                if m.bias is not None:
                    _set_param(m, "bias", m.bias[ii])
                m.in_channels = m.out_channels = m.groups = len(ii)
            elif kind == "linear":
                oi = _layout_index(a, out, keep)
                _set_param(m, "weight", m.weight[oi][:, ii])
                if m.bias is not None:
                    _set_param(m, "bias", m.bias[oi])
                m.in_features, m.out_features = len(ii), len(oi)
            elif kind == "bn":
                for p in ("weight", "bias", "running_mean", "running_var"):
                    if getattr(m, p, None) is not None:
                        _set_param(m, p, getattr(m, p)[ii])
                m.num_features = len(ii)
    return model
