"""Compact sparse weight formats carried by the IR (Tensor.tags["sparsity"]).

- Block sparse 1x4 (MCU block-sparse FC, docs/integer-ops.md): CSR over blocks of one
  row x 4 columns: row_ptr (M+1 uint16), col_idx (nblocks uint16, block column = k // 4),
  values (nblocks * 4, the weight dtype). A block is stored iff any of its 4 values is
  non-zero; K is padded with zeros to a multiple of 4.
- N:M (2:4, 1:4): in every group of M consecutive weights along the input axis at most N
  are non-zero; metadata = the kept positions (0..M-1) of each group, uint8 [rows, K/M, N].

Tensor data stays dense (zeros where pruned): the reference runs it unchanged, and these
arrays let a code generator emit the compact form without recomputing it.
"""
import numpy as np

from ..errors import EdgeError

BLOCK = 4


def _as_2d(w, what="weight"):
    w = np.asarray(w)
    if w.ndim < 2:
        raise EdgeError(f"{what}: sparse formats need a 2-D (or higher) weight, got shape {w.shape}")
    return w.reshape(w.shape[0], -1)


def to_block_sparse(w):
    """Dense [M, K...] weight -> (row_ptr uint16 [M+1], col_idx uint16 [nb], values [nb*4])."""
    w2 = _as_2d(w)
    m, k = w2.shape
    kb = (k + BLOCK - 1) // BLOCK
    if kb > 0xFFFF or m > 0xFFFF:
        raise EdgeError(f"weight of shape {w2.shape} is too large for uint16 block indices")
    padded = np.zeros((m, kb * BLOCK), w2.dtype)
    padded[:, :k] = w2
    blocks = padded.reshape(m, kb, BLOCK)
    keep = np.any(blocks != 0, axis=2)                       # [M, kb]
    row_ptr = np.zeros(m + 1, np.int64)
    row_ptr[1:] = np.cumsum(keep.sum(1))
    if row_ptr[-1] > 0xFFFF:
        raise EdgeError(f"weight of shape {w2.shape} has {row_ptr[-1]} blocks, more than uint16 row_ptr holds")
    rows, cols = np.nonzero(keep)                            # row-major order = CSR order
    values = blocks[rows, cols].reshape(-1)
    return row_ptr.astype(np.uint16), cols.astype(np.uint16), values


def from_block_sparse(row_ptr, col_idx, values, shape):
    """CSR blocks back to the dense weight of `shape` (zeros where no block is stored)."""
    m = len(row_ptr) - 1
    k = int(np.prod(shape[1:]))
    kb = (k + BLOCK - 1) // BLOCK
    dense = np.zeros((m, kb * BLOCK), np.asarray(values).dtype)
    vals = np.asarray(values).reshape(-1, BLOCK)
    for r in range(m):
        for j in range(int(row_ptr[r]), int(row_ptr[r + 1])):
            c = int(col_idx[j])
            dense[r, c * BLOCK:(c + 1) * BLOCK] = vals[j]
    return dense[:, :k].reshape(shape)


def block_sparse_matmul(x, row_ptr, col_idx, values):
    """y [N, M] = x [N, K] @ W.T computed from the CSR blocks only (as the kernel walks them).

    Integer weights accumulate in int64, float weights in float64.
    """
    x = np.asarray(x)
    vals = np.asarray(values)
    acc_t = np.int64 if np.issubdtype(vals.dtype, np.integer) else np.float64
    n, k = x.shape
    kb = (k + BLOCK - 1) // BLOCK
    xp = np.zeros((n, kb * BLOCK), acc_t)
    xp[:, :k] = x
    xb = xp.reshape(n, kb, BLOCK)
    vb = vals.reshape(-1, BLOCK).astype(acc_t)
    m = len(row_ptr) - 1
    y = np.zeros((n, m), acc_t)
    for r in range(m):
        lo, hi = int(row_ptr[r]), int(row_ptr[r + 1])
        if hi > lo:
            cols = np.asarray(col_idx[lo:hi], np.int64)
            y[:, r] = np.einsum("nbk,bk->n", xb[:, cols, :], vb[lo:hi])
    return y


def block_sparse_tag(w):
    """The Tensor.tags["sparsity"] entry for a 1x4 block-sparse weight."""
    row_ptr, col_idx, values = to_block_sparse(w)
    nblocks = len(col_idx)
    total = len(row_ptr) - 1
    total *= (int(np.prod(np.asarray(w).shape[1:])) + BLOCK - 1) // BLOCK
    return {"kind": "block", "block": [1, BLOCK], "row_ptr": row_ptr, "col_idx": col_idx,
            "values": values, "density": float(nblocks / max(1, total))}


def nm_mask(w, n, m):
    """Boolean mask keeping the n largest |w| of every m consecutive weights along the
    flattened input axis (rows = output channels). K must be a multiple of m."""
    check_nm(n, m)
    w = np.asarray(w)
    w2 = np.abs(w.reshape(w.shape[0], -1)).astype(np.float64)
    k = w2.shape[1]
    if k % m:
        raise EdgeError(f"N:M sparsity {n}:{m}: the input size {k} of a weight {w.shape} is not a multiple of {m}")
    g = w2.reshape(w2.shape[0], k // m, m)
    # Stable sort on -|w| so ties keep the lower index (deterministic metadata).
    order = np.argsort(-g, axis=2, kind="stable")[:, :, :n]
    mask = np.zeros_like(g, dtype=bool)
    np.put_along_axis(mask, order, True, axis=2)
    return mask.reshape(w.shape)


def check_nm(n, m):
    if not (isinstance(n, (int, np.integer)) and isinstance(m, (int, np.integer)) and 0 < n < m <= 16):
        raise EdgeError(f"N:M sparsity needs integers 0 < N < M <= 16, got {n}:{m}")


def to_nm(w, n, m):
    """Dense N:M-sparse weight -> (values [rows, K/M, N], indices uint8 [rows, K/M, N])."""
    check_nm(n, m)
    w = np.asarray(w)
    w2 = w.reshape(w.shape[0], -1)
    k = w2.shape[1]
    if k % m:
        raise EdgeError(f"N:M sparsity {n}:{m}: the input size {k} of a weight {w.shape} is not a multiple of {m}")
    g = w2.reshape(w2.shape[0], k // m, m)
    nz = (g != 0).sum(2)
    if np.any(nz > n):
        raise EdgeError(f"weight {w.shape} is not {n}:{m} sparse (a group has {int(nz.max())} non-zeros)")
    # Non-zeros first (in position order), then pad with zero positions to exactly N.
    key = np.where(g != 0, 0, 1) * m + np.arange(m)
    idx = np.sort(np.argsort(key, axis=2, kind="stable")[:, :, :n], axis=2)
    vals = np.take_along_axis(g, idx, axis=2)
    return vals, idx.astype(np.uint8)


def from_nm(values, indices, m, shape):
    rows, groups, n = values.shape
    g = np.zeros((rows, groups, m), values.dtype)
    np.put_along_axis(g, indices.astype(np.int64), values, axis=2)
    return g.reshape(shape)


def nm_tag(w, n, m):
    """The Tensor.tags["sparsity"] entry for an N:M-sparse weight (indices = kept positions)."""
    _, idx = to_nm(w, n, m)
    return {"kind": "nm", "n": int(n), "m": int(m), "indices": idx}


def unstructured_tag(w):
    w = np.asarray(w)
    return {"kind": "unstructured", "density": float(np.count_nonzero(w) / max(1, w.size))}
