"""QDQ models from onnxruntime.quantization.quantize_static (QDQ format, per-channel, int8
activations) imported by edgesdk (frontend + fuse_qdq) vs onnxruntime running the same
QDQ model: difference of the int8 outputs in quantization steps, and top-1 agreement.

onnxruntime computes QDQ graphs in float (rescale in float32, round half to even); the
integer graph requantizes in fixed point (round half up), so exact equality is not
expected. Models: the trained Fashion-MNIST CNN (real test images) and MobileNetV2
(ImageNet weights; photo crops as in bench/quant_mobilenet.py).

    .venv/bin/python bench/quant_qdq_ort.py   -> bench/results/quant_qdq_ort.json
"""
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_fmnist_model import trained_fmnist_cnn  # noqa: E402
from quant_mobilenet import crops, photos  # noqa: E402

import edgesdk.quant as Q  # noqa: E402
from edgesdk.data import load_fashion_mnist  # noqa: E402
from edgesdk.frontends import load  # noqa: E402
from edgesdk.passes import run_passes  # noqa: E402
from edgesdk.reference import run  # noqa: E402
from edgesdk.util.atomic import atomic_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "quant_qdq_ort.json"


def qdq_model(model, shape, calib, d):
    fp = Path(d) / "float.onnx"
    torch.onnx.export(model.eval(), torch.zeros(shape), str(fp), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["out"])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    qp = Path(d) / "qdq.onnx"
    quantize_static(str(fp), str(qp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return qp


def compare(name, model, shape, calib, test):
    t = time.time()
    with tempfile.TemporaryDirectory() as d:
        qp = qdq_model(model, shape, calib, d)
        g = run_passes(load(str(qp)))
        sess = ort.InferenceSession(str(qp))
        out = g.tensors[g.outputs[0]]
        steps, agree = [], 0
        for x in test:
            ref = sess.run(None, {"input": x[None]})[0]
            got = run(g, Q.quantize_inputs(g, {"input": x[None]}))[g.outputs[0]]
            want = np.clip(np.round(ref / float(out.quant.scale)) + int(out.quant.zero_point), -128, 127)
            steps.append(np.abs(got.astype(np.int64) - want))
            agree += int(got.argmax() == ref.argmax())
    s = np.concatenate([a.reshape(-1) for a in steps])
    row = {"model": name, "samples": len(test), "float_ops_left": len(Q.float_ops(g)), "ops": g.op_counts(),
           "max_step_diff": int(s.max()), "mean_step_diff": round(float(s.mean()), 4),
           "fraction_exact": round(float((s == 0).mean()), 4), "top1_agreement": agree / len(test),
           "seconds": round(time.time() - t, 1)}
    print(f"  {name}: max {row['max_step_diff']} steps, {row['fraction_exact'] * 100:.1f}% exact, "
          f"top-1 agreement {row['top1_agreement']:.3f}", flush=True)
    return row


def main():
    torch.set_num_threads(1)
    x, _ = load_fashion_mnist("test", limit=232)
    rows = [compare("fmnist_cnn (trained)", trained_fmnist_cnn(), (1, 1, 28, 28), x[:32], x[32:232])]
    from edgesdk.zoo import mobilenet_v2_imagenet
    images, _ = photos()
    rows.append(compare("mobilenet_v2 (ImageNet)", mobilenet_v2_imagenet(), (1, 3, 224, 224),
                        crops(images, 8, seed=1), crops(images, 8, seed=2)))
    print()
    print(f"{'model':<26} {'max steps':>9} {'mean':>7} {'exact %':>8} {'top1':>6}")
    for r in rows:
        print(f"{r['model']:<26} {r['max_step_diff']:>9} {r['mean_step_diff']:>7.4f} "
              f"{r['fraction_exact'] * 100:>8.1f} {r['top1_agreement']:>6.3f}")
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps({"what": "edgesdk integer graph (fuse_qdq) vs onnxruntime on the same QDQ model",
                                   "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
