"""Maps the repository layout onto the installed package.

sdk/ is the package `edgesdk` and codegen/ is `edgesdk.codegen`; the C sources
(kernels/, runtime/, targets/) ship as package data under edgesdk/_c/ so that a wheel
works outside the repository (see edgesdk.paths).
"""
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
C_DIRS = ("kernels", "runtime", "targets")
C_SUFFIXES = {".c", ".h", ".S", ".s", ".ld", ".yaml", ".cl", ".cu", ".cuh", ".md", ".txt", ".tmpl", ".in"}


def subpackages(root, prefix):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
        if "__init__.py" in filenames:
            rel = Path(dirpath).relative_to(root)
            out.append(".".join([prefix, *rel.parts]) if rel.parts else prefix)
    return out


class build_py_with_c(build_py):
    """Copies the C sources into edgesdk/_c/ in the build tree."""

    def run(self):
        super().run()
        dest_root = Path(self.build_lib) / "edgesdk" / "_c"
        for d in C_DIRS:
            for p in (ROOT / d).rglob("*"):
                if p.is_file() and p.suffix in C_SUFFIXES:
                    dest = dest_root / p.relative_to(ROOT)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(p, dest)


packages = subpackages(ROOT / "sdk", "edgesdk") + subpackages(ROOT / "codegen", "edgesdk.codegen")
setup(
    packages=packages,
    package_dir={"edgesdk": "sdk", "edgesdk.codegen": "codegen"},
    package_data={"edgesdk.codegen": ["templates/*"]},
    cmdclass={"build_py": build_py_with_c},
)
