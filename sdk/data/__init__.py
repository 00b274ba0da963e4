"""Real datasets that install offline (Debian and PyPI packages); no downloads."""
from .fashion_mnist import load_fashion_mnist, FASHION_MNIST_DIR
from .basic_motions import load_basic_motions

__all__ = ["load_fashion_mnist", "FASHION_MNIST_DIR", "load_basic_motions"]
