"""The table `edgesdk finetune` prints at the end of a run."""


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def finetune_table(res, train_manifest):
    lines = [f"{'epoch':>5}  {'loss':>8}  {'train acc':>9}  {'test acc':>8}  {'seconds':>8}"]
    for r in res.history:
        lines.append(f"{r['epoch']:>5}  {r['loss']:>8.4f}  {_pct(r['train_acc']):>9}  "
                     f"{_pct(r.get('test_acc')):>8}  {r['seconds']:>8.1f}")
    t = train_manifest
    full = int(t.get("full_backprop_bytes", 0))
    ratio = f" ({full / res.train_bytes:.1f}x less)" if res.train_bytes and full else ""
    lines += ["",
              f"accuracy (test)      before {_pct(res.before_acc)}  after {_pct(res.after_acc)}",
              f"trained              {'biases' if t['mode'] == 'bias' else 'weights and biases'} of the last "
              f"{t['last_k']} layer(s): "
              + " -> ".join(str(L['in']) for L in t["layers"]) + f" -> {t['n_classes']}",
              f"training memory      {res.train_bytes:,} B (full backprop of the float model: {full:,} B){ratio}"]
    if res.instructions_per_sample is not None:
        lines.append(f"instructions/sample  {res.instructions_per_sample:,.0f}  "
                     "(backbone inference + head forward/backward + SGD, averaged)")
    if res.instructions_per_cached_sample is not None:
        lines.append(f"  from the cache     {res.instructions_per_cached_sample:,.0f}  "
                     f"(epochs 2+: the frozen backbone's features kept on the device, {t.get('cache_slots', 0)} slots)")
    if res.status:
        lines.append(f"device               {res.status['samples_seen']} samples trained since boot, "
                     f"checkpoint #{res.history[-1].get('checkpoint', '-') if res.history else '-'}, samples via "
                     f"{res.status.get('sample_transport', '?')}"
                     + (f", resumed after {res.resets} reboot(s)" if res.resets else ""))
    return "\n".join(lines)
