/* Private helpers of the _dsp kernels (Cortex-M4/M7/M33/M55 DSP extension).
 *
 * The int8 x int8 dot products use SMLAD (two 16x16 MACs per instruction).  The
 * activation side is widened once to int16 with the input offset added ("columns",
 * shared by every output channel); the weight side is widened on the fly with SXTB16,
 * which yields bytes (0,2) and, rotated, (1,3).  So that no repacking is needed, the
 * columns store each group of 4 values in the order x0 x2 x1 x3: then
 *   SMLAD(w02, x02) + SMLAD(w13, x13) = w0x0 + w1x1 + w2x2 + w3x3.
 * Elements past the last whole group of 4 are stored in natural order.
 */
#ifndef EK_ARM_DSP_H
#define EK_ARM_DSP_H
#include <arm_acle.h>
#include <string.h>

#include "ek_s8.h"

EK_INLINE uint32_t ek_ld32(const void *p) {  /* unaligned-safe 32-bit load (LDR on v7-M) */
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
EK_INLINE void ek_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }

EK_INLINE uint32_t ek_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int32_t)x); }
EK_INLINE uint32_t ek_sxtb16_ror8(uint32_t x) {  /* GCC 12 has no __ror/ror-form intrinsic */
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
EK_INLINE int32_t ek_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int32_t)a, (int32_t)b, acc);
}
EK_INLINE uint32_t ek_sadd16(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int32_t)a, (int32_t)b); }

/* n int8 values (+offset) -> int16 column in the 0 2 1 3 group order. */
EK_INLINE void ek_dsp_widen_reordered(const int8_t *src, int16_t *dst, int32_t n, int32_t offset) {
    const uint32_t off2 = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t x = ek_ld32(src + i);
        ek_st32(dst + i, ek_sadd16(ek_sxtb16(x), off2));
        ek_st32(dst + i + 2, ek_sadd16(ek_sxtb16_ror8(x), off2));
    }
    for (; i < n; i++) dst[i] = (int16_t)(src[i] + offset);
}

/* Where element k of a column of length K lives in the reordered layout. */
EK_INLINE int32_t ek_dsp_reorder_index(int32_t k, int32_t k4) {
    static const int8_t perm[4] = {0, 2, 1, 3};
    return k < k4 ? (k & ~3) + perm[k & 3] : k;
}

/* acc + dot(w[0..K), col[0..K)) for one int8 row and one reordered int16 column. */
EK_INLINE int32_t ek_dsp_dot_row(const int8_t *w, const int16_t *col, int32_t K, int32_t acc) {
    const int32_t k4 = K & ~3;
    int32_t k = 0;
    for (; k < k4; k += 4) {
        const uint32_t v = ek_ld32(w + k);
        acc = ek_smlad(ek_sxtb16(v), ek_ld32(col + k), acc);
        acc = ek_smlad(ek_sxtb16_ror8(v), ek_ld32(col + k + 2), acc);
    }
    for (; k < K; k++) acc += w[k] * col[k];
    return acc;
}

/* Output stage for the tile kernels. */
#define EK_DSP_STORE(out, acc, oc) \
    (out) = ek_output_stage((acc), multiplier[oc], shift[oc], p->output_offset, p->act_min, p->act_max)

/* The matmul core shared by conv2d and conv1x1: out_c channels x 2 columns (col1 may be
 * NULL for a lone last pixel).  Weights OHWI rows of K int8; columns int16, reordered.
 * Inner tile: 2 channels x 2 pixels, 16 MACs per 8 SMLADs + 4 SXTB16 + 2 LDR + 2 LDRD. */
EK_INLINE void ek_dsp_mat_cols(const ek_conv_s8_params_t *p, int32_t K, const int8_t *weights,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               const int16_t *col0, const int16_t *col1, int8_t *out0, int8_t *out1) {
    const int32_t k4 = K & ~3;
    int32_t oc = 0;
    if (col1) {
        for (; oc + 2 <= p->out_c; oc += 2) {
            const int8_t *wa = weights + (size_t)oc * K, *wb = wa + K;
            int32_t a0 = bias ? bias[oc] : 0, b0 = bias ? bias[oc + 1] : 0;
            int32_t a1 = a0, b1 = b0;
            const int16_t *c0 = col0, *c1 = col1;
            for (const int8_t *end = wa + k4; wa < end; wa += 4, wb += 4, c0 += 4, c1 += 4) {
                const uint32_t va = ek_ld32(wa), vb = ek_ld32(wb);
                const uint32_t a02 = ek_sxtb16(va), a13 = ek_sxtb16_ror8(va);
                const uint32_t b02 = ek_sxtb16(vb), b13 = ek_sxtb16_ror8(vb);
                uint32_t x02 = ek_ld32(c0), x13 = ek_ld32(c0 + 2);
                a0 = ek_smlad(a02, x02, a0);
                b0 = ek_smlad(b02, x02, b0);
                a0 = ek_smlad(a13, x13, a0);
                b0 = ek_smlad(b13, x13, b0);
                x02 = ek_ld32(c1);
                x13 = ek_ld32(c1 + 2);
                a1 = ek_smlad(a02, x02, a1);
                b1 = ek_smlad(b02, x02, b1);
                a1 = ek_smlad(a13, x13, a1);
                b1 = ek_smlad(b13, x13, b1);
            }
            for (int32_t k = k4; k < K; k++, wa++, wb++, c0++, c1++) {
                a0 += *wa * *c0;
                b0 += *wb * *c0;
                a1 += *wa * *c1;
                b1 += *wb * *c1;
            }
            EK_DSP_STORE(out0[oc], a0, oc);
            EK_DSP_STORE(out0[oc + 1], b0, oc + 1);
            EK_DSP_STORE(out1[oc], a1, oc);
            EK_DSP_STORE(out1[oc + 1], b1, oc + 1);
        }
    }
    /* Odd last channel, or a lone last pixel: 1 channel x 1-2 columns. */
    for (; oc < p->out_c; oc++) {
        const int8_t *w = weights + (size_t)oc * K;
        int32_t a0 = bias ? bias[oc] : 0, a1 = a0;
        int32_t k = 0;
        if (col1) {
            for (; k < k4; k += 4) {
                const uint32_t v = ek_ld32(w + k);
                const uint32_t w02 = ek_sxtb16(v), w13 = ek_sxtb16_ror8(v);
                a0 = ek_smlad(w02, ek_ld32(col0 + k), a0);
                a0 = ek_smlad(w13, ek_ld32(col0 + k + 2), a0);
                a1 = ek_smlad(w02, ek_ld32(col1 + k), a1);
                a1 = ek_smlad(w13, ek_ld32(col1 + k + 2), a1);
            }
            for (; k < K; k++) {
                a0 += w[k] * col0[k];
                a1 += w[k] * col1[k];
            }
            EK_DSP_STORE(out1[oc], a1, oc);
        } else {
            a0 = ek_dsp_dot_row(w, col0, K, a0);
        }
        EK_DSP_STORE(out0[oc], a0, oc);
    }
}
#endif
