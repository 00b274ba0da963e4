/* General convolution with 4-bit packed weights for Cortex-M DSP: im2col of 4 output
 * pixels (natural int8, padding = x_zp), each widened to int16 in the s4 pair order
 * (ek_s4_dsp.h), then every packed weight word is unpacked once per 4 pixels into 4
 * SXTB16 pairs for 16 SMLAD.  Scratch: ek_conv2d_s4_scratch_bytes. */
#include "ek_s4_dsp.h"

EK_NOIPA void ek_conv2d_s4_dsp(EK_S4_CONV_ARGS, void *scratch) {
    const int32_t K = p->k_h * p->k_w * p->in_c, K8 = EK_S4_K8(K);
    int16_t *col = (int16_t *)scratch;                        /* 4 x K8 int16, interleaved */
    int8_t *nat = (int8_t *)(col + EK_S4_DSP_NPIX * K8);      /* K8 int8 */
    /* the K8 - K values past the receptive field: x_zp, which the offset makes 0, so the
     * widening is whole groups only */
    ek_s4_fill(nat + K, (int8_t)(-p->input_offset), K8 - K);
    const int32_t n_pix = p->out_h * p->out_w;
    int32_t oy = 0, ox = 0;
    for (int32_t pix = 0; pix < n_pix; pix += EK_S4_DSP_NPIX) {
        const int32_t n = n_pix - pix < EK_S4_DSP_NPIX ? n_pix - pix : EK_S4_DSP_NPIX;
        for (int32_t q = 0; q < n; q++) {
            ek_s4_im2col_pixel(p, input, oy, ox, nat);
            ek_s4_dsp_widen(nat, col + 8 * q, K8, p->input_offset);
            if (++ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
        ek_s4_dsp_mat(K, p->out_c, weights, bias, multiplier, shift, col, n, output + (size_t)pix * p->out_c,
                      p->out_c, p->output_offset, p->act_min, p->act_max);
    }
}
