"""Shared fixtures and skips for host tests."""
import shutil

import pytest


def have(tool):
    return shutil.which(tool) is not None


def require_tools(*tools):
    """Skip (saying which tool is missing) when an external tool is absent."""
    missing = [t for t in tools if not have(t)]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")
