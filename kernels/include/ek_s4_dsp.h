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
#define EK_S4_DSP_GSTRIDE (8 * EK_S4_DSP_NPIX) /* int16 per group of 8 k of a 4-pixel buffer */
#define EK_S4_K8(k) (((k) + 7) & ~7)

/* Column buffers interleave the 4 pixels per group of 8 k (like the int8 DSP kernels),
 * so one pointer walks all of them at fixed offsets: group g of pixel q at int16
 * [EK_S4_DSP_GSTRIDE * g + 8 * q]. */

/* K int8 values (+ offset) -> int16 groups in the x0 x4 x2 x6 x1 x5 x3 x7 order at
 * dst + g * EK_S4_DSP_GSTRIDE; the values of the last group past K are 0. */
EK_INLINE void ek_s4_dsp_widen(const int8_t *x, int16_t *dst, int32_t K, int32_t off) {
    const uint32_t off2 = ((uint32_t)(uint16_t)off << 16) | (uint16_t)off;
    int32_t k = 0;
    for (; k + 8 <= K; k += 8, dst += EK_S4_DSP_GSTRIDE) {
        uint32_t *d = (uint32_t *)dst;
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
        for (int32_t j = 0; j < 8; j++) dst[pos[j]] = (int16_t)(k + j < K ? x[k + j] + off : 0);
    }
}

/* The last, partial packed word of a row (bytes 1..4): from the row's own bytes for the
 * very last row (no over-read past the weights), else one word load masked. */
EK_INLINE uint32_t ek_s4_dsp_tail_word(const uint8_t *w, int32_t bytes, int32_t last_row) {
    if (!last_row) return ek_ld32(w) & (bytes >= 4 ? 0xFFFFFFFFu : ((1u << (8 * bytes)) - 1u));
    uint32_t v = 0;
    for (int32_t i = 0; i < bytes; i++) v |= (uint32_t)w[i] << (8 * i);
    return v;
}

/* 4 pixels x one packed word: the low nibbles (n0 n4 / n2 n6) against column words 0, 1
 * of each pixel, then the high ones (n1 n5 / n3 n7) against words 2, 3; only 2 unpacked
 * weights live at a time, so the 4 accumulators and both pointers stay in registers. */
/* 4 pixels x one packed word, in assembly so that the column pairs are LDRD (GCC splits
 * them into LDRs): the low nibbles (n0 n4 / n2 n6) against words 0, 1 of each pixel, then
 * the high ones (n1 n5 / n3 n7) against words 2, 3: 33 instructions for 32 MACs, and
 * only 2 unpacked weights live at a time. */
#define EK_S4_DSP_PAIR_ASM(a, off)                 \
    "ldrd %[x0], %[x1], [%[c], #" off "]\n\t"      \
    "smlad %[" a "], %[wa], %[x0], %[" a "]\n\t"   \
    "smlad %[" a "], %[wb], %[x1], %[" a "]\n\t"
#define EK_S4_DSP_STEP4(wv, c)                                                           \
    do {                                                                                 \
        uint32_t t_, wa_, wb_, x0_, x1_;                                                 \
        __asm__("lsl %[t], %[wv], #4\n\t"                                                \
                "and %[t], %[t], #0xF0F0F0F0\n\t"                                        \
                "sxtb16 %[wa], %[t]\n\t"                                                 \
                "sxtb16 %[wb], %[t], ror #8\n\t"                                         \
                EK_S4_DSP_PAIR_ASM("a0", "0") EK_S4_DSP_PAIR_ASM("a1", "16")             \
                EK_S4_DSP_PAIR_ASM("a2", "32") EK_S4_DSP_PAIR_ASM("a3", "48")            \
                "and %[t], %[wv], #0xF0F0F0F0\n\t"                                       \
                "sxtb16 %[wa], %[t]\n\t"                                                 \
                "sxtb16 %[wb], %[t], ror #8\n\t"                                         \
                EK_S4_DSP_PAIR_ASM("a0", "8") EK_S4_DSP_PAIR_ASM("a1", "24")             \
                EK_S4_DSP_PAIR_ASM("a2", "40") EK_S4_DSP_PAIR_ASM("a3", "56")            \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [t] "=&r"(t_), \
                  [wa] "=&r"(wa_), [wb] "=&r"(wb_), [x0] "=&r"(x0_), [x1] "=&r"(x1_)     \
                : [wv] "r"(wv), [c] "r"(c)                                               \
                : "memory");                                                             \
    } while (0)

#define EK_S4_DSP_STEP1(wv, c)                                                         \
    do {                                                                               \
        const uint32_t l_ = ((wv) << 4) & 0xF0F0F0F0u, h_ = (wv) & 0xF0F0F0F0u;        \
        a0 = ek_smlad(ek_sxtb16_ror8(l_), (c)[1], ek_smlad(ek_sxtb16(l_), (c)[0], a0)); \
        a0 = ek_smlad(ek_sxtb16_ror8(h_), (c)[3], ek_smlad(ek_sxtb16(h_), (c)[2], a0)); \
    } while (0)

/* All out_c rows against n (1..4) widened pixels of the interleaved buffer `col`;
 * outputs of pixel q at out + q * out_stride. */
EK_INLINE void ek_s4_dsp_mat(int32_t K, int32_t out_c, const uint8_t *weights, const int32_t *bias,
                             const int32_t *multiplier, const int32_t *shift, const int16_t *col,
                             int32_t n, int8_t *out, int32_t out_stride, int32_t zp, int32_t lo,
                             int32_t hi) {
    const int32_t groups = K >> 3;
    const size_t row_bytes = EK_S4_ROW_BYTES(K);
    const int32_t tail_bytes = (int32_t)row_bytes - 4 * groups;
    const uint32_t *cols = (const uint32_t *)col;
    const int32_t gw = EK_S4_DSP_GSTRIDE / 2;  /* words per group */
    for (int32_t oc = 0; oc < out_c; oc++) {
        const uint8_t *w = weights + (size_t)oc * row_bytes;
        const int32_t b = bias ? bias[oc] : 0, m = multiplier[oc], sh = shift[oc];
        const int32_t last = oc == out_c - 1;
        int8_t *y = out + oc;
        if (n == EK_S4_DSP_NPIX) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const uint32_t *c = cols;
            const uint8_t *wend = w + 4 * groups;
            for (; w != wend; w += 4, c += gw) {
                const uint32_t wv = ek_ld32(w);
                EK_S4_DSP_STEP4(wv, c);
            }
            if (tail_bytes) {
                const uint32_t wv = ek_s4_dsp_tail_word(w, tail_bytes, last);
                EK_S4_DSP_STEP4(wv, c);
            }
            y[0] = ek_output_stage_dsp(b + (a0 >> 4), m, sh, zp, lo, hi);
            y[out_stride] = ek_output_stage_dsp(b + (a1 >> 4), m, sh, zp, lo, hi);
            y[2 * out_stride] = ek_output_stage_dsp(b + (a2 >> 4), m, sh, zp, lo, hi);
            y[3 * out_stride] = ek_output_stage_dsp(b + (a3 >> 4), m, sh, zp, lo, hi);
            continue;
        }
        for (int32_t q = 0; q < n; q++, y += out_stride) {
            const uint8_t *wq = w;
            const uint32_t *c = cols + 4 * q;
            int32_t a0 = 0;
            for (int32_t g = 0; g < groups; g++, wq += 4, c += gw) {
                const uint32_t wv = ek_ld32(wq);
                EK_S4_DSP_STEP1(wv, c);
            }
            if (tail_bytes) {
                const uint32_t wv = ek_s4_dsp_tail_word(wq, tail_bytes, last);
                EK_S4_DSP_STEP1(wv, c);
            }
            *y = ek_output_stage_dsp(b + (a0 >> 4), m, sh, zp, lo, hi);
        }
    }
}
#undef EK_S4_DSP_STEP4
#undef EK_S4_DSP_PAIR_ASM
#undef EK_S4_DSP_STEP1
#endif
