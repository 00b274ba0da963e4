/* Scalar reference matmuls (the oracle twins of ek_matmul_*_rvv.c).
 * C = op(A) * B and C = A * B^T; plain loops, sequential sums in k order. */
#include "ek_float_impl.h"

void EK_FN(matmul)(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K, int lda, int ldb,
                   int ldc, int flags) {
    int ta = flags & EK_TRANS_A;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            ek_t *c = &C[(size_t)i * ldc + j];
            if (flags & EK_ACC32) {
                float s = (flags & EK_ACCUMULATE) ? (float)*c : 0.0f;
                for (int k = 0; k < K; k++) {
                    ek_t a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    s += (float)a * (float)B[(size_t)k * ldb + j];
                }
                *c = (ek_t)s;
            } else {
                ek_t s = (flags & EK_ACCUMULATE) ? *c : (ek_t)0;
                for (int k = 0; k < K; k++) {
                    ek_t a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    s += a * B[(size_t)k * ldb + j];
                }
                *c = s;
            }
        }
}

void EK_FN(matmul_nt)(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K, int lda,
                      int ldb, int ldc, int flags) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const ek_t *a = &A[(size_t)i * lda], *b = &B[(size_t)j * ldb];
            ek_t *c = &C[(size_t)i * ldc + j];
            if (flags & EK_ACC32) {
                float s = 0.0f;
                for (int k = 0; k < K; k++) s += (float)a[k] * (float)b[k];
                *c = (flags & EK_ACCUMULATE) ? (ek_t)((float)*c + s) : (ek_t)s;
            } else {
                ek_t s = 0;
                for (int k = 0; k < K; k++) s += a[k] * b[k];
                *c = (flags & EK_ACCUMULATE) ? (ek_t)(*c + s) : s;
            }
        }
}
