/* 1x1 int8 convolution for Cortex-M DSP: each output pixel's input is one contiguous
 * channel vector, widened to int16 (6 pixels at a time, interleaved) and fed to the
 * 1 channel x 6 pixel SMLAD matmul (ek_arm_dsp.h).  Scratch: ek_conv1x1_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_conv1x1_s8_dsp(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->in_c;
    int16_t *col = (int16_t *)scratch;  /* 6 pixels interleaved: 6 * (K + 4) int16 */
    const int32_t n_pix = p->out_h * p->out_w;
    const int32_t fast = ek_dsp_fast_shifts(shift, p->out_c);
    const uint32_t off2 = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
    for (int32_t pix = 0; pix < n_pix; pix += EK_DSP_NPIX) {
        const int32_t n = n_pix - pix < EK_DSP_NPIX ? n_pix - pix : EK_DSP_NPIX;
        for (int32_t q = 0; q < n; q++) {
            const int32_t oy = (pix + q) / p->out_w, ox = pix + q - oy * p->out_w;
            const int8_t *x = input + ((size_t)oy * p->stride_h * p->in_w + (size_t)ox * p->stride_w) * K;
            int16_t *d = col + 4 * q;
            if (K >= 4) d = ek_dsp_widen6(x, d, K >> 2, off2);
            if (K & 3) {
                for (int32_t j = 0; j < (K & 3); j++) d[j] = (int16_t)(x[(K & ~3) + j] + p->input_offset);
                ek_dsp_pad_tail(d, K & 3);
            }
        }
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col, n, output + (size_t)pix * p->out_c, fast);
    }
}
