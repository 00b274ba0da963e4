"""Run every benchmark in this folder (`make bench`), or those named: python -m bench quant mcu.

Each bench/<area>_<what>.py prints its table and writes JSON to bench/results/. This
runner only sequences them and prints a one-line verdict per script at the end.
"""
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv):
    scripts = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    if argv:
        scripts = [p for p in scripts if any(p.stem.startswith(a) for a in argv)]
    verdicts = []
    for p in scripts:
        print(f"\n=== {p.name} ===", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, str(p)], cwd=HERE.parent)
        verdicts.append((p.name, rc, time.monotonic() - t0))
    print("\nbenchmark          exit  seconds")
    for name, rc, dt in verdicts:
        print(f"{name:<32} {rc:>4} {dt:8.1f}")
    return max((rc for _, rc, _ in verdicts), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
