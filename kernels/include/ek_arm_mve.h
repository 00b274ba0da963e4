/* Private helpers of the _mve kernels (Cortex-M55/M85 Helium, MVE-I).
 *
 * int8 dot products use VMLADAVA.S8 (16 MACs per instruction into a scalar int32).
 * The input offset is not added lane by lane: sum (x + off) * w = sum x * w + off * sum w,
 * and sum w comes from VADDVA.S8 on the weight vectors already loaded.  im2col columns
 * therefore hold raw x with padding = x_zp (= -off), which contributes exactly 0.
 * Tails use tail predication (VCTP), so no kernel reads past a buffer's end.
 */
#ifndef EK_ARM_MVE_H
#define EK_ARM_MVE_H
#include <arm_mve.h>
#include <string.h>

#include "ek_s8.h"

/* Copy n bytes (any n) with 16-byte vector moves. */
EK_INLINE void ek_mve_copy8(int8_t *dst, const int8_t *src, int32_t n) {
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, pr), pr);
    }
}

EK_INLINE void ek_mve_fill8(int8_t *dst, int8_t v, int32_t n) {
    const int8x16_t d = vdupq_n_s8(v);
    for (int32_t i = 0; i < n; i += 16) vstrbq_p_s8(dst + i, d, vctp8q((uint32_t)(n - i)));
}

/* acc + sum_k w[k] * x[k] and wsum + sum_k w[k], K any (predicated last chunk). */
EK_INLINE int32_t ek_mve_dot(const int8_t *w, const int8_t *x, int32_t K, int32_t acc, int32_t *wsum) {
    int32_t ws = *wsum;
    for (int32_t k = 0; k < K; k += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(K - k));
        const int8x16_t wv = vldrbq_z_s8(w + k, pr);
        acc = vmladavaq_s8(acc, wv, vldrbq_z_s8(x + k, pr));
        ws = vaddvaq_s8(ws, wv);
    }
    *wsum = ws;
    return acc;
}

/* One weight row (K int8) against 4 int8 columns (each readable for K bytes): the
 * 1 channel x 4 pixel tile, 10 instructions per 64 MACs. */
EK_INLINE void ek_mve_row_x4(const int8_t *w, const int8_t *c0, const int8_t *c1, const int8_t *c2,
                             const int8_t *c3, int32_t K, int32_t acc[4], int32_t *wsum) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], ws = 0;
    for (int32_t k = 0; k < K; k += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(K - k));
        const int8x16_t wv = vldrbq_z_s8(w + k, pr);
        ws = vaddvaq_s8(ws, wv);
        a0 = vmladavaq_s8(a0, wv, vldrbq_z_s8(c0 + k, pr));
        a1 = vmladavaq_s8(a1, wv, vldrbq_z_s8(c1 + k, pr));
        a2 = vmladavaq_s8(a2, wv, vldrbq_z_s8(c2 + k, pr));
        a3 = vmladavaq_s8(a3, wv, vldrbq_z_s8(c3 + k, pr));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    *wsum = ws;
}

/* All out_c channels for n (1..4) pixels whose columns are cols[0..n). */
EK_INLINE void ek_mve_mat_cols(const ek_conv_s8_params_t *p, int32_t K, const int8_t *weights,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               const int8_t *const cols[4], int32_t n, int8_t *const outs[4]) {
    const int8_t *c[4];
    for (int32_t j = 0; j < 4; j++) c[j] = cols[j < n ? j : 0];  /* unused lanes repeat pixel 0 */
    for (int32_t oc = 0; oc < p->out_c; oc++) {
        const int32_t b = bias ? bias[oc] : 0;
        int32_t acc[4] = {0, 0, 0, 0}, ws;
        ek_mve_row_x4(weights + (size_t)oc * K, c[0], c[1], c[2], c[3], K, acc, &ws);
        const int32_t base = b + p->input_offset * ws;
        for (int32_t j = 0; j < n; j++)
            outs[j][oc] = ek_output_stage(acc[j] + base, multiplier[oc], shift[oc], p->output_offset,
                                          p->act_min, p->act_max);
    }
}
#endif
