/* 1x1 int8 convolution for Cortex-M DSP: each output pixel's input is one contiguous
 * channel vector, widened to int16 (2 pixels at a time) and fed to the 2x2 SMLAD
 * matmul (ek_arm_dsp.h).  Scratch: ek_conv1x1_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_conv1x1_s8_dsp(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->in_c;
    int16_t *col = (int16_t *)scratch;  /* 2 pixels interleaved: 2 * (K + 4) int16 */
    const int32_t n_pix = p->out_h * p->out_w;
#define PIX_IN(q) (input + ((size_t)((q) / p->out_w) * p->stride_h * p->in_w + \
                            (size_t)((q) % p->out_w) * p->stride_w) * K)
    int32_t pix = 0;
    for (; pix + 2 <= n_pix; pix += 2) {
        ek_dsp_widen_reordered(PIX_IN(pix), col, K, p->input_offset, 8);
        ek_dsp_widen_reordered(PIX_IN(pix + 1), col + 4, K, p->input_offset, 8);
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col, 1,
                        output + (size_t)pix * p->out_c, output + (size_t)(pix + 1) * p->out_c);
    }
    if (pix < n_pix) {
        ek_dsp_widen_reordered(PIX_IN(pix), col, K, p->input_offset, 4);
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col, 0, output + (size_t)pix * p->out_c, NULL);
    }
#undef PIX_IN
}
