/* 1x1 int8 convolution for Cortex-M DSP: each output pixel's input is one contiguous
 * channel vector, widened to int16 (2 pixels at a time) and fed to the 2x2 SMLAD
 * matmul (ek_arm_dsp.h).  Scratch: ek_conv1x1_s8_scratch_bytes. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_conv1x1_s8_dsp(EK_S8_CONV_ARGS, void *scratch) {
    const int32_t K = p->in_c, kp = (K + 1) & ~1;
    int16_t *col0 = (int16_t *)scratch, *col1 = col0 + kp;
    const int32_t n_pix = p->out_h * p->out_w;
#define PIX_IN(q) (input + ((size_t)((q) / p->out_w) * p->stride_h * p->in_w + \
                            (size_t)((q) % p->out_w) * p->stride_w) * K)
    int32_t pix = 0;
    for (; pix + 2 <= n_pix; pix += 2) {
        ek_dsp_widen_reordered(PIX_IN(pix), col0, K, p->input_offset);
        ek_dsp_widen_reordered(PIX_IN(pix + 1), col1, K, p->input_offset);
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col0, col1,
                        output + (size_t)pix * p->out_c, output + (size_t)(pix + 1) * p->out_c);
    }
    if (pix < n_pix) {
        ek_dsp_widen_reordered(PIX_IN(pix), col0, K, p->input_offset);
        ek_dsp_mat_cols(p, K, weights, bias, multiplier, shift, col0, NULL,
                        output + (size_t)pix * p->out_c, NULL);
    }
#undef PIX_IN
}
