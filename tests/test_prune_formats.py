"""Block-sparse 1x4 CSR and N:M formats: round trips and block-sparse matmul == dense masked."""
import numpy as np
import pytest

from edgesdk.errors import EdgeError
from edgesdk.prune.formats import (to_block_sparse, from_block_sparse, block_sparse_matmul, block_sparse_tag,
                                   nm_mask, to_nm, from_nm, nm_tag)


def _block_pruned(rng, m, k, keep):
    w = rng.integers(-127, 128, (m, k)).astype(np.int8)
    kb = (k + 3) // 4
    blocks = rng.random((m, kb)) < keep
    mask = np.repeat(blocks, 4, axis=1)[:, :k]
    return (w * mask).astype(np.int8)


def test_block_sparse_roundtrip_and_layout():
    w = np.zeros((3, 10), np.int8)
    w[0, 1] = 5          # block 0 of row 0
    w[0, 9] = -2         # block 2 (partial, k padded to 12)
    w[2, 4:8] = [1, 2, 3, 4]
    row_ptr, col_idx, values = to_block_sparse(w)
    assert row_ptr.dtype == np.uint16 and col_idx.dtype == np.uint16
    assert row_ptr.tolist() == [0, 2, 2, 3]
    assert col_idx.tolist() == [0, 2, 1]
    assert values.tolist() == [0, 5, 0, 0, 0, -2, 0, 0, 1, 2, 3, 4]
    np.testing.assert_array_equal(from_block_sparse(row_ptr, col_idx, values, w.shape), w)


@pytest.mark.parametrize("m,k,keep", [(16, 64, 0.3), (5, 37, 0.5), (8, 12, 0.0)])
def test_block_sparse_matmul_equals_dense_masked(m, k, keep):
    rng = np.random.default_rng(m + k)
    w = _block_pruned(rng, m, k, keep)
    x = rng.integers(-128, 128, (4, k)).astype(np.int8)
    csr = to_block_sparse(w)
    y = block_sparse_matmul(x, *csr)
    np.testing.assert_array_equal(y, x.astype(np.int64) @ w.astype(np.int64).T)
    tag = block_sparse_tag(w)
    assert tag["kind"] == "block" and tag["block"] == [1, 4]
    assert tag["density"] == pytest.approx(len(csr[1]) / (m * ((k + 3) // 4)))


def test_nm_mask_and_metadata_roundtrip():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 8, 2, 2)).astype(np.float32)
    mask = nm_mask(w, 2, 4)
    g = mask.reshape(6, -1, 4)
    assert (g.sum(2) == 2).all()
    # the kept ones are the 2 largest magnitudes of each group
    a = np.abs(w).reshape(6, -1, 4)
    kept_min = np.where(g, a, np.inf).min(2)
    dropped_max = np.where(~g, a, -np.inf).max(2)
    assert (kept_min >= dropped_max).all()
    ws = w * mask
    vals, idx = to_nm(ws, 2, 4)
    assert idx.dtype == np.uint8 and vals.shape == (6, 8, 2)
    np.testing.assert_array_equal(from_nm(vals, idx, 4, w.shape), ws)
    assert nm_tag(ws, 2, 4)["n"] == 2


def test_nm_bad_input():
    with pytest.raises(EdgeError, match="multiple of 4"):
        nm_mask(np.ones((2, 6)), 2, 4)
    with pytest.raises(EdgeError, match="0 < N < M"):
        nm_mask(np.ones((2, 8)), 4, 4)
    with pytest.raises(EdgeError, match="not 1:4 sparse"):
        to_nm(np.ones((2, 8)), 1, 4)
