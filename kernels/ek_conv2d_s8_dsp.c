/* General int8 convolution for Cortex-M DSP: im2col of 2 output pixels into int16
 * columns (input offset added, padding = 0), 6 pixels interleaved, + the 1 channel x
 * 6 pixel SMLAD matmul (ek_arm_dsp.h).  Scratch: ek_conv2d_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

#define EK_DSP_NAT_MAX 256 /* bytes of stack for the in_c % 4 != 0 gather */

/* Out of line on purpose: inlined into im2col_pixel, GCC hoists the set-up of every
 * loop of every call site into the pixel prologue. */
__attribute__((noinline)) static void widen_groups(const int8_t *x, int16_t *dst, int32_t n, int32_t off,
                                                   int32_t stride) {
    ek_dsp_widen_reordered(x, dst, n, off, stride);
}

__attribute__((noinline)) static int16_t *zero_groups(int16_t *dst, int32_t groups, int32_t stride) {
    for (int32_t g = 0; g < groups; g++, dst += stride) {
        ((uint32_t *)dst)[0] = 0u;  /* word-aligned: the compiler may pair these as STRD */
        ((uint32_t *)dst)[1] = 0u;
    }
    return dst;
}

/* One group (4 int8 in a word, natural order) + offset -> the reordered int16 slot of
 * one pixel in a 6-pixel buffer; returns the next slot (as ek_dsp_widen6, 3 instructions). */
EK_INLINE int16_t *widen_word(uint32_t w, int16_t *dst, uint32_t off2) {
    uint32_t t1, t2;
    __asm__ volatile("sxtab16 %[t1], %[o], %[w]\n\t"
                     "sxtab16 %[t2], %[o], %[w], ror #8\n\t"
                     "strd %[t1], %[t2], [%[d]], #48\n\t"
                     : [d] "+r"(dst), [t1] "=&r"(t1), [t2] "=&r"(t2)
                     : [o] "r"(off2), [w] "r"(w)
                     : "memory");
    return dst;
}

/* Interior pixel of a 3x3 conv on 3 channels (an RGB stem), dilation 1: the column is
 * 27 bytes in 3 rows of 9 (+ one x_zp pad byte = 7 groups) assembled straight from
 * unaligned words, without the byte gather.  Groups that straddle two rows borrow the
 * neighbouring bytes of a row (always inside the input: rows 1 and 2 are preceded by
 * row 0 and 1, and row 0 and 1 are followed by the next row) and mask them out. */
EK_INLINE void im2col_rgb3x3(const int8_t *r0, size_t row_step, int16_t *col, int32_t off) {
    const int8_t *r1 = r0 + row_step, *r2 = r1 + row_step;
    const uint32_t off2 = ((uint32_t)(uint16_t)off << 16) | (uint16_t)off;
    const uint32_t pad = (uint32_t)(uint8_t)(-off) << 24;
    col = widen_word(ek_ld32(r0), col, off2);
    col = widen_word(ek_ld32(r0 + 4), col, off2);
    col = widen_word((ek_ld32(r1 - 1) & 0xFFFFFF00u) | (uint8_t)r0[8], col, off2);
    col = widen_word(ek_ld32(r1 + 3), col, off2);
    col = widen_word((ek_ld32(r1 + 7) & 0xFFFFu) | (ek_ld32(r2 - 2) & 0xFFFF0000u), col, off2);
    col = widen_word(ek_ld32(r2 + 2), col, off2);
    (void)widen_word((ek_ld32(r2 + 5) >> 8) | pad, col, off2);
}

/* `groups` (>= 1) group slots of one pixel copied from `src` (slots 48 bytes apart, as in
 * dst): LDRD + STRD a group, two per trip (3 instructions a group, widening costs 4.5). */
EK_INLINE int16_t *copy_groups6(int16_t *dst, const int16_t *src, int32_t groups) {
    uint32_t t0, t1;
    if (groups & 1) {
        __asm__ volatile("ldrd %[a], %[b], [%[s]], #48\n\t"
                         "strd %[a], %[b], [%[d]], #48\n\t"
                         : [s] "+r"(src), [d] "+r"(dst), [a] "=&r"(t0), [b] "=&r"(t1)
                         :
                         : "memory");
    }
    groups >>= 1;
    if (groups) {
        __asm__ volatile("1:\n\t"
                         "ldrd %[a], %[b], [%[s]], #48\n\t"
                         "strd %[a], %[b], [%[d]], #48\n\t"
                         "ldrd %[a], %[b], [%[s]], #48\n\t"
                         "strd %[a], %[b], [%[d]], #48\n\t"
                         "subs %[g], %[g], #1\n\t"
                         "bne 1b\n\t"
                         : [s] "+r"(src), [d] "+r"(dst), [g] "+r"(groups), [a] "=&r"(t0), [b] "=&r"(t1)
                         :
                         : "memory", "cc");
    }
    return dst;
}

/* One pixel's column into `col` with group stride `stride` (4 plain, 8 interleaved).
 * Padding is 0 (x_zp + input_offset).  With in_c % 4 == 0 every tap is whole groups and
 * a row of taps (dilation 1) is one contiguous widen. */
/* no-tree-loop-distribute-patterns: the short byte loops must stay loops, not calls to
 * (newlib-nano's byte-wise) memset/memcpy. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void im2col_pixel(const ek_conv_s8_params_t *p, const int8_t *input, int32_t pix, int16_t *col,
                         int32_t K, int32_t stride) {
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->in_c, kw = p->k_w, dw = p->dil_w, in_h = p->in_h, in_w = p->in_w;
    const int32_t off = p->input_offset;
    if (dw == 1 && ix0 >= 0 && ix0 + kw <= in_w && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < in_h) {
        /* Interior pixel, no padding: every row of taps is kw * ic contiguous bytes. */
        const uint32_t off2 = ((uint32_t)(uint16_t)off << 16) | (uint16_t)off;
        const int8_t *x = input + ((size_t)iy0 * in_w + ix0) * ic;
        const size_t row_step = (size_t)p->dil_h * in_w * ic;
        const int32_t row = kw * ic;
        if ((ic & 3) == 0) {
            int16_t *dst = col;
            for (int32_t ky = 0; ky < p->k_h; ky++, x += row_step) dst = ek_dsp_widen6(x, dst, row >> 2, off2);
            return;
        }
        if (ic == 3 && kw == 3 && p->k_h == 3) {
            im2col_rgb3x3(x, row_step, col, off);
            return;
        }
        if (K <= EK_DSP_NAT_MAX) {
            /* gather the rows word-wise (unaligned LDR/STR), pad the last group with x_zp
             * (0 after the offset), widen once */
            int8_t nat[EK_DSP_NAT_MAX + 8];
            int8_t *d = nat;
            for (int32_t ky = 0; ky < p->k_h; ky++, x += row_step) {
                int32_t e = 0;
                for (; e + 4 <= row; e += 4) ek_st32(d + e, ek_ld32(x + e));
                for (; e < row; e++) d[e] = x[e];
                d += row;
            }
            for (int32_t e = K; e < ((K + 3) & ~3); e++) nat[e] = (int8_t)(-off);
            ek_dsp_widen6(nat, col, (K + 3) >> 2, off2);
            return;
        }
    }
    if ((ic & 3) == 0) {
        const int32_t g_tap = ic >> 2;
        /* valid kx range [kx0, kx1) is the same for every row */
        int32_t kx0 = 0, kx1 = kw;
        while (kx0 < kw && ix0 + kx0 * dw < 0) kx0++;
        while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= in_w) kx1--;
        int16_t *dst = col;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= in_h || kx1 <= kx0) {
                dst = zero_groups(dst, kw * g_tap, stride);
                continue;
            }
            if (kx0) dst = zero_groups(dst, kx0 * g_tap, stride);
            const int8_t *x = input + ((size_t)iy * in_w + ix0 + kx0 * dw) * ic;
            if (dw == 1) {
                widen_groups(x, dst, (kx1 - kx0) * ic, off, stride);
                dst += (kx1 - kx0) * g_tap * stride;
            } else {
                for (int32_t kx = kx0; kx < kx1; kx++, x += dw * ic, dst += g_tap * stride)
                    widen_groups(x, dst, ic, off, stride);
            }
            if (kx1 < kw) dst = zero_groups(dst, (kw - kx1) * g_tap, stride);
        }
        return;
    }
    if (K <= EK_DSP_NAT_MAX) {
        /* in_c % 4 != 0 (e.g. an RGB input): gather the raw bytes in natural order, with
         * padding (and the rest of the last group) = x_zp, which the offset turns into 0;
         * then one word-wise widen.  ~5x fewer instructions than element-wise placing. */
        int8_t nat[EK_DSP_NAT_MAX + 4];
        const int8_t pad = (int8_t)(-off);
        const int32_t kpad = (K + 3) & ~3;
        int32_t kx0 = 0, kx1 = kw;
        while (kx0 < kw && ix0 + kx0 * dw < 0) kx0++;
        while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= in_w) kx1--;
        int8_t *d = nat;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= in_h || kx1 <= kx0) {
                for (int32_t e = kw * ic; e > 0; e--) *d++ = pad;
                continue;
            }
            for (int32_t e = kx0 * ic; e > 0; e--) *d++ = pad;
            const int8_t *x = input + ((size_t)iy * in_w + ix0 + kx0 * dw) * ic;
            if (dw == 1) {
                for (int32_t e = (kx1 - kx0) * ic; e > 0; e--) *d++ = *x++;
            } else {
                for (int32_t kx = kx0; kx < kx1; kx++, x += dw * ic)
                    for (int32_t c = 0; c < ic; c++) *d++ = x[c];
            }
            for (int32_t e = (kw - kx1) * ic; e > 0; e--) *d++ = pad;
        }
        for (int32_t e = K; e < kpad; e++) *d++ = pad;
        widen_groups(nat, col, kpad, off, stride);
        return;
    }
    /* Long columns: fill in natural order, jumping to the next
     * group slot every 4 values, then swap the middle two of every whole group. */
    int16_t *dst = col;
    int32_t phase = 0;
#define PUT(v)                   \
    do {                         \
        dst[phase] = (int16_t)(v); \
        if (++phase == 4) {      \
            phase = 0;           \
            dst += stride;       \
        }                        \
    } while (0)
    int32_t kx0 = 0, kx1 = kw;
    while (kx0 < kw && ix0 + kx0 * dw < 0) kx0++;
    while (kx1 > kx0 && ix0 + (kx1 - 1) * dw >= in_w) kx1--;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= in_h || kx1 <= kx0) {
            for (int32_t e = kw * ic; e > 0; e--) PUT(0);
            continue;
        }
        for (int32_t e = kx0 * ic; e > 0; e--) PUT(0);
        const int8_t *x = input + ((size_t)iy * in_w + ix0 + kx0 * dw) * ic;
        if (dw == 1) {
            for (int32_t e = 0, ne = (kx1 - kx0) * ic; e < ne; e++) PUT(x[e] + off);
        } else {
            for (int32_t kx = kx0; kx < kx1; kx++, x += dw * ic)
                for (int32_t c = 0; c < ic; c++) PUT(x[c] + off);
        }
        for (int32_t e = (kw - kx1) * ic; e > 0; e--) PUT(0);
    }
    while (phase) PUT(0); /* the tail becomes one zero-padded group (ek_dsp_mat_cols) */
#undef PUT
    for (int32_t g = 0; g < (K + 3) >> 2; g++) {
        int16_t *q = col + g * stride;
        const int16_t t = q[1];
        q[1] = q[2];
        q[2] = t;
    }
}

EK_NOIPA void ek_conv2d_s8_dsp(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->k_h * p->k_w * p->in_c;
    int16_t *col = (int16_t *)scratch;  /* 6 pixels interleaved: 6 * (K + 4) int16 */
    const int32_t n_pix = p->out_h * p->out_w;
    const int32_t fast = ek_dsp_fast_shifts(shift, p->out_c);
    const int32_t rgb = p->in_c == 3 && p->k_h == 3 && p->k_w == 3 && p->dil_w == 1;
    const size_t row_step = (size_t)p->dil_h * p->in_w * 3;
    /* in_c % 4 == 0, dilation 1 along x: each kernel row is whole groups */
    const int32_t rows4 = (p->in_c & 3) == 0 && p->dil_w == 1;
    const size_t row_step4 = (size_t)p->dil_h * p->in_w * p->in_c;
    const int32_t row_groups = (p->k_w * p->in_c) >> 2, iy_span = (p->k_h - 1) * p->dil_h;
    const uint32_t off2 = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
    /* sliding reuse between neighbouring pixels (stride 1 along x, kw >= 2) */
    const int32_t slide = rows4 && p->stride_w == 1 && p->k_w >= 2;
    const int32_t tap_groups = p->in_c >> 2, copy_groups = (p->k_w - 1) * tap_groups;
    const int32_t last_tap = (p->k_w - 1) * p->in_c;
    /* in uint32 from a group slot of pixel q: the next tap's group of pixel q - 1 */
    const int32_t copy_from = tap_groups * (EK_DSP_GSTRIDE / 2) - 2;
    for (int32_t pix = 0; pix < n_pix; pix += EK_DSP_NPIX) {
        const int32_t n = n_pix - pix < EK_DSP_NPIX ? n_pix - pix : EK_DSP_NPIX;
        if (rgb) {
            for (int32_t q = 0; q < n; q++) {
                /* inline here: the call and set-up of im2col_pixel cost as much as this */
                const int32_t oy = (pix + q) / p->out_w, ox = pix + q - oy * p->out_w;
                const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                if (ix0 >= 0 && ix0 + 3 <= p->in_w && iy0 >= 0 && iy0 + 2 * p->dil_h < p->in_h)
                    im2col_rgb3x3(input + ((size_t)iy0 * p->in_w + ix0) * 3, row_step, col + 4 * q,
                                  p->input_offset);
                else
                    im2col_pixel(p, input, pix + q, col + 4 * q, K, EK_DSP_GSTRIDE);
            }
        } else if (rows4) {
            int32_t prev_interior = 0;  /* pixel q - 1 of this tile took the interior path */
            for (int32_t q = 0; q < n; q++) {
                /* interior pixel: kh rows of kw * ic contiguous bytes, widened in place
                 * (inline here, saving im2col_pixel's call and set-up per pixel) */
                const int32_t oy = (pix + q) / p->out_w, ox = pix + q - oy * p->out_w;
                const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                if (ix0 >= 0 && ix0 + p->k_w <= p->in_w && iy0 >= 0 && iy0 + iy_span < p->in_h) {
                    const int8_t *x = input + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
                    int16_t *dst = col + 4 * q;
                    if (slide && prev_interior && ox > 0) {
                        /* stride 1, same output row as pixel q - 1: its taps kx = 1..kw-1 are
                         * this pixel's kx = 0..kw-2, already widened: copy those groups
                         * (LDRD + STRD) and widen only the last tap of each row */
                        for (int32_t ky = 0; ky < p->k_h; ky++, x += row_step4) {
                            dst = copy_groups6(dst, dst + 2 * copy_from, copy_groups);
                            dst = ek_dsp_widen6(x + last_tap, dst, tap_groups, off2);
                        }
                    } else {
                        for (int32_t ky = 0; ky < p->k_h; ky++, x += row_step4)
                            dst = ek_dsp_widen6(x, dst, row_groups, off2);
                    }
                    prev_interior = 1;
                } else {
                    im2col_pixel(p, input, pix + q, col + 4 * q, K, EK_DSP_GSTRIDE);
                    prev_interior = 0;
                }
            }
        } else {
            for (int32_t q = 0; q < n; q++) im2col_pixel(p, input, pix + q, col + 4 * q, K, EK_DSP_GSTRIDE);
        }
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col, n, output + (size_t)pix * p->out_c, fast);
    }
}
