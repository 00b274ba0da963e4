/* Scalar reference matmuls (the oracle twins of ek_matmul_*_rvv.c, and the "scalar FP32"
 * baseline of the benchmarks, so they are written the way a scalar kernel would be:
 * 4 outputs per pass share each load of A, sums run in k order, one rounding per FMA).
 *   ek_matmul:    C = op(A) B      (op(A) = A or A^T, given as a stride)
 *   ek_matmul_nt: C = A B^T        (dot products of rows) */
#include "ek_float_impl.h"

/* acc type: the element type, or float with EK_ACC32 */
#define EK_MM_BODY(ACC)                                                                      \
    for (int i = 0; i < M; i++) {                                                            \
        const ek_t *ai = A + i * rs;                                                         \
        ek_t *ci = C + (size_t)i * ldc;                                                      \
        int j = 0;                                                                           \
        for (; j + 4 <= N; j += 4) {                                                         \
            ACC s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                              \
            if (accum) s0 = (ACC)ci[j], s1 = (ACC)ci[j + 1], s2 = (ACC)ci[j + 2], s3 = (ACC)ci[j + 3]; \
            const ek_t *a = ai, *b = B + j;                                                  \
            for (int k = 0; k < K; k++, a += as, b += ldb) {                                 \
                ACC av = (ACC)*a;                                                            \
                s0 += av * (ACC)b[0];                                                        \
                s1 += av * (ACC)b[1];                                                        \
                s2 += av * (ACC)b[2];                                                        \
                s3 += av * (ACC)b[3];                                                        \
            }                                                                                \
            ci[j] = (ek_t)s0, ci[j + 1] = (ek_t)s1, ci[j + 2] = (ek_t)s2, ci[j + 3] = (ek_t)s3; \
        }                                                                                    \
        for (; j < N; j++) {                                                                 \
            ACC s = accum ? (ACC)ci[j] : (ACC)0;                                             \
            const ek_t *a = ai, *b = B + j;                                                  \
            for (int k = 0; k < K; k++, a += as, b += ldb) s += (ACC)*a * (ACC)*b;           \
            ci[j] = (ek_t)s;                                                                 \
        }                                                                                    \
    }

void EK_FN(matmul)(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K, int lda, int ldb,
                   int ldc, int flags) {
    /* A(i,k) = A[i*rs + k*as]: the transposition is only a stride */
    ptrdiff_t as = (flags & EK_TRANS_A) ? lda : 1, rs = (flags & EK_TRANS_A) ? 1 : lda;
    int accum = flags & EK_ACCUMULATE;
    if (flags & EK_ACC32) {
        EK_MM_BODY(float)
    } else {
        EK_MM_BODY(ek_t)
    }
}

#define EK_MMNT_BODY(ACC)                                                                    \
    for (int i = 0; i < M; i++) {                                                            \
        const ek_t *a = A + (size_t)i * lda;                                                 \
        ek_t *ci = C + (size_t)i * ldc;                                                      \
        int j = 0;                                                                           \
        for (; j + 4 <= N; j += 4) {                                                         \
            const ek_t *b0 = B + (size_t)j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb; \
            ACC s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                              \
            for (int k = 0; k < K; k++) {                                                    \
                ACC av = (ACC)a[k];                                                          \
                s0 += av * (ACC)b0[k];                                                       \
                s1 += av * (ACC)b1[k];                                                       \
                s2 += av * (ACC)b2[k];                                                       \
                s3 += av * (ACC)b3[k];                                                       \
            }                                                                                \
            if (accum) s0 += (ACC)ci[j], s1 += (ACC)ci[j + 1], s2 += (ACC)ci[j + 2], s3 += (ACC)ci[j + 3]; \
            ci[j] = (ek_t)s0, ci[j + 1] = (ek_t)s1, ci[j + 2] = (ek_t)s2, ci[j + 3] = (ek_t)s3; \
        }                                                                                    \
        for (; j < N; j++) {                                                                 \
            const ek_t *b = B + (size_t)j * ldb;                                             \
            ACC s = 0;                                                                       \
            for (int k = 0; k < K; k++) s += (ACC)a[k] * (ACC)b[k];                          \
            ci[j] = accum ? (ek_t)((ACC)ci[j] + s) : (ek_t)s;                                \
        }                                                                                    \
    }

void EK_FN(matmul_nt)(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K, int lda,
                      int ldb, int ldc, int flags) {
    int accum = flags & EK_ACCUMULATE;
    if (flags & EK_ACC32) {
        EK_MMNT_BODY(float)
    } else {
        EK_MMNT_BODY(ek_t)
    }
}
