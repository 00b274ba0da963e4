/* Private helpers of the _dsp 4-bit kernels (Cortex-M4/M7/M33/M55 DSP extension).
 *
 * A word of packed weights holds 8 values n0..n7 (byte i = n(2i) | n(2i+1) << 4).
 * lo = (w << 4) & 0xF0F0F0F0 puts 16 * n(2i) in byte i, hi = w & 0xF0F0F0F0 puts
 * 16 * n(2i+1) there, and SXTB16 / SXTB16 ror 8 pick bytes (0,2) / (1,3):
 *   sxtb16(lo) = (16 n0, 16 n4), sxtb16(lo ror 8) = (16 n2, 16 n6),
 *   sxtb16(hi) = (16 n1, 16 n5), sxtb16(hi ror 8) = (16 n3, 16 n7)
 * (low halfword first).  The activation column is therefore widened to int16 (offset
 * added) in the order x0 x4 x2 x6 x1 x5 x3 x7 per group of 8, and 4 SMLAD give 16 times
 * the 8-term dot product: the sum is a multiple of 16 and one arithmetic shift at the
 * end makes it exact (|16 w x| <= 16 * 8 * 255, so int32 holds K < 65536 terms).
 * 11 instructions unpack + dot 8 weights for one pixel; for 4 pixels the unpack is
 * shared (4 + 4 x 6 per 32 MACs). */
#ifndef EK_S4_DSP_H
#define EK_S4_DSP_H
#include "ek_arm_dsp.h"
#include "ek_s4_arm.h"

#define EK_S4_DSP_NPIX 4
#define EK_S4_K8(k) (((k) + 7) & ~7)

/* K int8 values (+ offset) -> K8 int16 in the x0 x4 x2 x6 x1 x5 x3 x7 group order, the
 * values past K zero. */
EK_INLINE void ek_s4_dsp_widen(const int8_t *x, int16_t *dst, int32_t K, int32_t off) {
    const uint32_t off2 = ((uint32_t)(uint16_t)off << 16) | (uint16_t)off;
    uint32_t *d = (uint32_t *)dst;
    int32_t k = 0;
    for (; k + 8 <= K; k += 8, d += 4) {
        const uint32_t a = ek_ld32(x + k), b = ek_ld32(x + k + 4);
        const uint32_t a02 = (uint32_t)__sxtab16((int32_t)off2, (int32_t)a);            /* x0 x2 */
        const uint32_t b02 = (uint32_t)__sxtab16((int32_t)off2, (int32_t)b);            /* x4 x6 */
        const uint32_t a13 = (uint32_t)__sxtab16((int32_t)off2, (int32_t)((a >> 8) | (a << 24)));
        const uint32_t b13 = (uint32_t)__sxtab16((int32_t)off2, (int32_t)((b >> 8) | (b << 24)));
        d[0] = (a02 & 0xFFFFu) | (b02 << 16);
        d[1] = (a02 >> 16) | (b02 & 0xFFFF0000u);
        d[2] = (a13 & 0xFFFFu) | (b13 << 16);
        d[3] = (a13 >> 16) | (b13 & 0xFFFF0000u);
    }
    if (k < K) {
        static const int8_t pos[8] = {0, 4, 2, 6, 1, 5, 3, 7};  /* slot of value j */
        int16_t *t = (int16_t *)d;
        for (int32_t j = 0; j < 8; j++) t[pos[j]] = (int16_t)(k + j < K ? x[k + j] + off : 0);
    }
}

/* The packed word of group g of a row; the last, partial group from its bytes only (so
 * the last row never reads past the weights), the missing nibbles 0. */
EK_INLINE uint32_t ek_s4_dsp_tail_word(const uint8_t *w, int32_t bytes) {
    uint32_t v = 0;
    for (int32_t i = 0; i < bytes; i++) v |= (uint32_t)w[i] << (8 * i);
    return v;
}

#define EK_S4_DSP_UNPACK(wv)                                                   \
    const uint32_t lo_ = ((wv) << 4) & 0xF0F0F0F0u, hi_ = (wv) & 0xF0F0F0F0u;  \
    const uint32_t w04 = ek_sxtb16(lo_), w26 = ek_sxtb16_ror8(lo_);            \
    const uint32_t w15 = ek_sxtb16(hi_), w37 = ek_sxtb16_ror8(hi_)

#define EK_S4_DSP_DOT(acc, c)                                                  \
    acc = ek_smlad(w04, (c)[0], acc);                                          \
    acc = ek_smlad(w26, (c)[1], acc);                                          \
    acc = ek_smlad(w15, (c)[2], acc);                                          \
    acc = ek_smlad(w37, (c)[3], acc)

/* All out_c rows against n (1..4) widened columns at col + q * K8 (int16); outputs of
 * column q at out + q * out_stride. */
EK_INLINE void ek_s4_dsp_mat(int32_t K, int32_t out_c, const uint8_t *weights, const int32_t *bias,
                             const int32_t *multiplier, const int32_t *shift, const int16_t *col,
                             int32_t n, int8_t *out, int32_t out_stride, int32_t zp, int32_t lo,
                             int32_t hi) {
    const int32_t groups = K >> 3, K8 = EK_S4_K8(K);
    const int32_t tail_bytes = (int32_t)EK_S4_ROW_BYTES(K) - 4 * groups;
    const size_t row_bytes = EK_S4_ROW_BYTES(K);
    const uint32_t *c0 = (const uint32_t *)col;
    for (int32_t oc = 0; oc < out_c; oc++) {
        const uint8_t *w = weights + (size_t)oc * row_bytes;
        int32_t a[EK_S4_DSP_NPIX] = {0, 0, 0, 0};
        if (n == EK_S4_DSP_NPIX) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const uint32_t *c = c0;
            const int32_t s = K8 >> 1;  /* words between columns */
            for (int32_t g = 0; g < groups; g++, w += 4, c += 4) {
                const uint32_t wv = ek_ld32(w);
                EK_S4_DSP_UNPACK(wv);
                EK_S4_DSP_DOT(a0, c);
                EK_S4_DSP_DOT(a1, c + s);
                EK_S4_DSP_DOT(a2, c + 2 * s);
                EK_S4_DSP_DOT(a3, c + 3 * s);
            }
            if (tail_bytes) {
                const uint32_t wv = ek_s4_dsp_tail_word(w, tail_bytes);
                EK_S4_DSP_UNPACK(wv);
                EK_S4_DSP_DOT(a0, c);
                EK_S4_DSP_DOT(a1, c + s);
                EK_S4_DSP_DOT(a2, c + 2 * s);
                EK_S4_DSP_DOT(a3, c + 3 * s);
            }
            a[0] = a0;
            a[1] = a1;
            a[2] = a2;
            a[3] = a3;
        } else {
            for (int32_t q = 0; q < n; q++) {
                const uint8_t *wq = w;
                const uint32_t *c = c0 + q * (K8 >> 1);
                int32_t a0 = 0;
                for (int32_t g = 0; g < groups; g++, wq += 4, c += 4) {
                    const uint32_t wv = ek_ld32(wq);
                    EK_S4_DSP_UNPACK(wv);
                    EK_S4_DSP_DOT(a0, c);
                }
                if (tail_bytes) {
                    const uint32_t wv = ek_s4_dsp_tail_word(wq, tail_bytes);
                    EK_S4_DSP_UNPACK(wv);
                    EK_S4_DSP_DOT(a0, c);
                }
                a[q] = a0;
            }
        }
        const int32_t b = bias ? bias[oc] : 0, m = multiplier[oc], sh = shift[oc];
        for (int32_t q = 0; q < n; q++)
            out[(size_t)q * out_stride + oc] = ek_output_stage_dsp(b + (a[q] >> 4), m, sh, zp, lo, hi);
    }
}
#undef EK_S4_DSP_UNPACK
#undef EK_S4_DSP_DOT
#endif
