/* RVV 1.0 matmuls, vector-length agnostic.
 *
 * ek_matmul: C = op(A) B. Vectorized along N (a row of B is contiguous), register-blocked
 * 3 rows of C x one LMUL-8 strip: each k step is 1 vector load of B, 3 scalar loads of A
 * and 3 vfmacc.vf -> 3*VLMAX MACs. (3 accumulators + 1 B strip = all 32 registers at LMUL 8.)
 * op(A) = A^T costs nothing: A is only read as scalars, just with another stride.
 *
 * ek_matmul_nt: C = A B^T, dot products along K (rows of A and B are contiguous), blocked
 * 1 row of A x 2 rows of B at LMUL 8, vector partial sums reduced once at the end.
 *
 * FP16 with EK_ACC32: B strips at LMUL 4 widened into FP32 LMUL-8 accumulators (vfwmacc). */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

#ifdef EK_F16
static void matmul_acc32(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K,
                         ptrdiff_t rs, ptrdiff_t ks, int ldb, int ldc, int accum) {
    for (int j0 = 0; j0 < N;) {
        size_t vl = __riscv_vsetvl_e16m4(N - j0);
        int i = 0;
        for (; i + 3 <= M; i += 3) {
            const ek_t *a0 = A + i * rs, *a1 = a0 + rs, *a2 = a1 + rs, *b = B + j0;
            ek_t *c0 = C + (size_t)i * ldc + j0, *c1 = c0 + ldc, *c2 = c1 + ldc;
            vfloat32m8_t s0, s1, s2;
            if (accum) {
                s0 = __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(c0, vl), vl);
                s1 = __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(c1, vl), vl);
                s2 = __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(c2, vl), vl);
            } else {
                s0 = s1 = s2 = __riscv_vfmv_v_f_f32m8(0.0f, vl);
            }
            for (int k = 0; k < K; k++, b += ldb) {
                vfloat16m4_t vb = __riscv_vle16_v_f16m4(b, vl);
                s0 = __riscv_vfwmacc(s0, a0[k * ks], vb, vl);
                s1 = __riscv_vfwmacc(s1, a1[k * ks], vb, vl);
                s2 = __riscv_vfwmacc(s2, a2[k * ks], vb, vl);
            }
            __riscv_vse16(c0, __riscv_vfncvt_f(s0, vl), vl);
            __riscv_vse16(c1, __riscv_vfncvt_f(s1, vl), vl);
            __riscv_vse16(c2, __riscv_vfncvt_f(s2, vl), vl);
        }
        for (; i < M; i++) {
            const ek_t *a0 = A + i * rs, *b = B + j0;
            ek_t *c0 = C + (size_t)i * ldc + j0;
            vfloat32m8_t s0 = accum ? __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(c0, vl), vl)
                                    : __riscv_vfmv_v_f_f32m8(0.0f, vl);
            for (int k = 0; k < K; k++, b += ldb)
                s0 = __riscv_vfwmacc(s0, a0[k * ks], __riscv_vle16_v_f16m4(b, vl), vl);
            __riscv_vse16(c0, __riscv_vfncvt_f(s0, vl), vl);
        }
        j0 += (int)vl;
    }
}
#endif

void EK_FN(matmul)(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K, int lda, int ldb,
                   int ldc, int flags) {
    /* A(i,k) = A[i*rs + k*ks] */
    ptrdiff_t rs = (flags & EK_TRANS_A) ? 1 : lda, ks = (flags & EK_TRANS_A) ? lda : 1;
    int accum = flags & EK_ACCUMULATE;
#ifdef EK_F16
    if (flags & EK_ACC32) {
        matmul_acc32(A, B, C, M, N, K, rs, ks, ldb, ldc, accum);
        return;
    }
#endif
    for (int j0 = 0; j0 < N;) {
        size_t vl = EK_VSETVL8(N - j0);
        int i = 0;
        for (; i + 3 <= M; i += 3) {
            const ek_t *a0 = A + i * rs, *a1 = a0 + rs, *a2 = a1 + rs, *b = B + j0;
            ek_t *c0 = C + (size_t)i * ldc + j0, *c1 = c0 + ldc, *c2 = c1 + ldc;
            ek_v8 s0, s1, s2;
            if (accum) {
                s0 = EK_VLE8(c0, vl);
                s1 = EK_VLE8(c1, vl);
                s2 = EK_VLE8(c2, vl);
            } else {
                s0 = s1 = s2 = EK_VSPLAT8(0, vl);
            }
            for (int k = 0; k < K; k++, b += ldb) {
                ek_v8 vb = EK_VLE8(b, vl);
                s0 = __riscv_vfmacc(s0, a0[k * ks], vb, vl);
                s1 = __riscv_vfmacc(s1, a1[k * ks], vb, vl);
                s2 = __riscv_vfmacc(s2, a2[k * ks], vb, vl);
            }
            EK_VSE(c0, s0, vl);
            EK_VSE(c1, s1, vl);
            EK_VSE(c2, s2, vl);
        }
        for (; i < M; i++) {
            const ek_t *a0 = A + i * rs, *b = B + j0;
            ek_t *c0 = C + (size_t)i * ldc + j0;
            ek_v8 s0 = accum ? EK_VLE8(c0, vl) : EK_VSPLAT8(0, vl);
            for (int k = 0; k < K; k++, b += ldb) s0 = __riscv_vfmacc(s0, a0[k * ks], EK_VLE8(b, vl), vl);
            EK_VSE(c0, s0, vl);
        }
        j0 += (int)vl;
    }
}

#ifdef EK_F16
static float dot2_acc32(const ek_t *a, const ek_t *b0, const ek_t *b1, int K, float *out1) {
    size_t vlmax = __riscv_vsetvlmax_e32m8();
    vfloat32m8_t s0 = __riscv_vfmv_v_f_f32m8(0.0f, vlmax), s1 = s0;
    for (int k = 0; k < K;) {
        size_t vl = __riscv_vsetvl_e16m4(K - k);
        vfloat16m4_t va = __riscv_vle16_v_f16m4(a + k, vl);
        s0 = __riscv_vfwmacc_tu(s0, va, __riscv_vle16_v_f16m4(b0 + k, vl), vl);
        if (out1) s1 = __riscv_vfwmacc_tu(s1, va, __riscv_vle16_v_f16m4(b1 + k, vl), vl);
        k += (int)vl;
    }
    vfloat32m1_t z = __riscv_vfmv_v_f_f32m1(0.0f, 1);
    if (out1) *out1 = __riscv_vfmv_f(__riscv_vfredusum(s1, z, vlmax));
    return __riscv_vfmv_f(__riscv_vfredusum(s0, z, vlmax));
}
#endif

/* dot(a, b0) and, if out1, dot(a, b1): partial sums per lane, one reduction at the end */
static ek_t dot2(const ek_t *a, const ek_t *b0, const ek_t *b1, int K, ek_t *out1) {
    size_t vlmax = EK_VSETVL8((size_t)-1);
    ek_v8 s0 = EK_VSPLAT8(0, vlmax), s1 = s0;
    for (int k = 0; k < K;) {
        size_t vl = EK_VSETVL8(K - k);
        ek_v8 va = EK_VLE8(a + k, vl);
        s0 = __riscv_vfmacc_tu(s0, va, EK_VLE8(b0 + k, vl), vl);
        if (out1) s1 = __riscv_vfmacc_tu(s1, va, EK_VLE8(b1 + k, vl), vl);
        k += (int)vl;
    }
    ek_v1 z = EK_VSPLAT1(0, 1);
    if (out1) *out1 = __riscv_vfmv_f(__riscv_vfredusum(s1, z, vlmax));
    return __riscv_vfmv_f(__riscv_vfredusum(s0, z, vlmax));
}

void EK_FN(matmul_nt)(const ek_t *A, const ek_t *B, ek_t *C, int M, int N, int K, int lda,
                      int ldb, int ldc, int flags) {
    int accum = flags & EK_ACCUMULATE;
    for (int i = 0; i < M; i++) {
        const ek_t *a = A + (size_t)i * lda;
        ek_t *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j += 2) {
            const ek_t *b0 = B + (size_t)j * ldb, *b1 = j + 1 < N ? b0 + ldb : 0;
#ifdef EK_F16
            if (flags & EK_ACC32) {
                float r1 = 0.0f, r0 = dot2_acc32(a, b0, b1, K, b1 ? &r1 : 0);
                c[j] = accum ? (ek_t)((float)c[j] + r0) : (ek_t)r0;
                if (b1) c[j + 1] = accum ? (ek_t)((float)c[j + 1] + r1) : (ek_t)r1;
                continue;
            }
#endif
            ek_t r1 = 0, r0 = dot2(a, b0, b1, K, b1 ? &r1 : 0);
            c[j] = accum ? (ek_t)(c[j] + r0) : r0;
            if (b1) c[j + 1] = accum ? (ek_t)(c[j + 1] + r1) : r1;
        }
    }
}
