"""int8 PTQ of MobileNetV2 (ImageNet weights, edgesdk.zoo.mobilenet_v2_imagenet): top-1
agreement of the integer graph with the float model on real photographs.

There are no ImageNet images offline. The inputs are 224x224 crops (random position,
size 160-420 px, random horizontal flip, bilinear resize, ImageNet normalisation) of the
three photographs shipped in Python packages: sklearn's china.jpg and flower.jpg
(load_sample_images) and matplotlib's grace_hopper.jpg. Calibration crops and
evaluation crops are drawn separately.

    .venv/bin/python bench/quant_mobilenet.py [--eval N] [--calib N]
        -> bench/results/quant_mobilenet.json
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import edgesdk.quant as Q
from edgesdk.frontends import load
from edgesdk.quant.calibrate import widen_batch
from edgesdk.reference import run
from edgesdk.util.atomic import atomic_path
from edgesdk.zoo import mobilenet_v2_imagenet

RESULTS = Path(__file__).resolve().parent / "results" / "quant_mobilenet.json"
MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)


def photos():
    import matplotlib
    from matplotlib.image import imread
    from sklearn.datasets import load_sample_images
    imgs = list(load_sample_images().images)
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    names = ["sklearn china.jpg", "sklearn flower.jpg"]
    if hopper.exists():
        imgs.append(imread(hopper))
        names.append("matplotlib grace_hopper.jpg")
    return [np.asarray(i, np.float32) / 255.0 for i in imgs], names


def crops(images, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        img = images[k % len(images)]
        h, w, _ = img.shape
        s = int(rng.integers(160, min(420, h, w) + 1))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        c = torch.from_numpy(np.ascontiguousarray(img[y:y + s, x:x + s].transpose(2, 0, 1)))[None]
        c = torch.nn.functional.interpolate(c, size=(224, 224), mode="bilinear", align_corners=False)[0].numpy()
        if rng.random() < 0.5:
            c = c[:, :, ::-1]
        out.append(((c - MEAN) / STD).astype(np.float32))
    return np.stack(out)


def int_logits(qg, x, batch=4):
    res = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        g = widen_batch(qg, len(xb))
        q = run(g, Q.quantize_inputs(qg, {qg.inputs[0]: xb}))
        res.append(Q.dequantize_outputs(qg, q)[qg.outputs[0]].reshape(len(xb), -1))
    return np.concatenate(res)


def ort_qdq_logits(model, calib, test):
    import tempfile

    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        fp, qp = Path(d) / "f.onnx", Path(d) / "q.onnx"
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), str(fp), opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["out"])
        quantize_static(str(fp), str(qp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        sess = ort.InferenceSession(str(qp))
        return np.concatenate([sess.run(None, {"input": x[None]})[0] for x in test])


def setup(n_eval, n_calib):
    """The float model, its IR graph, calibration and evaluation crops, float logits on them."""
    torch.set_num_threads(1)
    images, names = photos()
    calib = crops(images, n_calib, seed=1)
    test = crops(images, n_eval, seed=2)
    model = mobilenet_v2_imagenet().eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(test)).numpy()
    g = load(model, example_inputs=torch.zeros(1, 3, 224, 224))
    return model, g, calib, test, ref, names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", type=int, default=48)
    ap.add_argument("--calib", type=int, default=24)
    args = ap.parse_args()
    t0 = time.time()
    model, g, calib, test, ref, names = setup(args.eval, args.calib)
    rows = []
    for label, kw in (("int8 PTQ minmax + bias correction", dict(method="minmax")),
                      ("int8 PTQ mse + bias correction", dict(method="mse"))):
        t = time.time()
        qg = Q.quantize(g, calib, refine_samples=16, **kw)
        tq = time.time() - t
        logits = int_logits(qg, test)
        top1 = float((logits.argmax(1) == ref.argmax(1)).mean())
        top5 = float(np.mean([ref[i].argmax() in np.argsort(-logits[i])[:5] for i in range(len(ref))]))
        rows.append({"config": label, "top1_agreement": round(top1, 4), "float_top1_in_int8_top5": round(top5, 4),
                     "weight_bytes": Q.weight_bytes(qg), "quantize_s": round(tq, 1),
                     "eval_s": round(time.time() - t - tq, 1), "ops": qg.op_counts()})
        print(f"  {label}: top-1 agreement {top1:.4f}, float top-1 in int8 top-5 {top5:.4f} "
              f"({time.time() - t:.0f} s)", flush=True)
    # Baseline: onnxruntime's own static quantization (QDQ, per-channel) on the same crops.
    t = time.time()
    ort_logits = ort_qdq_logits(model, calib, test)
    top1 = float((ort_logits.argmax(1) == ref.argmax(1)).mean())
    top5 = float(np.mean([ref[i].argmax() in np.argsort(-ort_logits[i])[:5] for i in range(len(ref))]))
    rows.append({"config": "baseline: onnxruntime quantize_static (QDQ, per-channel, minmax)",
                 "top1_agreement": round(top1, 4), "float_top1_in_int8_top5": round(top5, 4),
                 "weight_bytes": None, "quantize_s": round(time.time() - t, 1)})
    print(f"  onnxruntime QDQ baseline: top-1 agreement {top1:.4f}, top-5 {top5:.4f}", flush=True)
    fb = 4 * sum(p.numel() for p in model.parameters())
    print()
    print(f"{'config':<40} {'top1 agree':>10} {'top5':>6} {'bytes':>9}")
    print(f"{'float32':<40} {'1.0000':>10} {'':>6} {fb:>9}")
    for r in rows:
        print(f"{r['config'][:40]:<40} {r['top1_agreement']:>10.4f} {r['float_top1_in_int8_top5']:>6.3f} "
              f"{r['weight_bytes'] or '':>9}")
    doc = {"model": "MobileNetV2 ImageNet (torchvision weights via edgesdk.zoo)", "float_bytes": fb,
           "inputs": f"{args.eval} evaluation and {args.calib} calibration 224x224 crops of: {', '.join(names)}",
           "rows": rows, "total_seconds": round(time.time() - t0, 1)}
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
