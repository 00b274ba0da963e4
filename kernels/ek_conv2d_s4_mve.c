/* General convolution with 4-bit packed weights for Cortex-M55 MVE: im2col of 4 output
 * pixels into 32-byte padded int8 columns (raw x, padding = x_zp), then per output
 * channel 16 packed bytes -> 32 weights (VSHL/VSHR) dotted with VLD2-de-interleaved
 * columns by VMLADAVA (ek_s4_mve.h).  Scratch: ek_conv2d_s4_scratch_bytes. */
#include "ek_s4_mve.h"

EK_NOIPA void ek_conv2d_s4_mve(EK_S4_CONV_ARGS, void *scratch) {
    const int32_t K = p->k_h * p->k_w * p->in_c, stride = EK_S4_K32(K);
    int8_t *buf = (int8_t *)scratch;
    const int32_t n_pix = p->out_h * p->out_w;
    int32_t oy = 0, ox = 0;
    for (int32_t pix = 0; pix < n_pix; pix += EK_S4_MVE_NPIX) {
        const int32_t n = n_pix - pix < EK_S4_MVE_NPIX ? n_pix - pix : EK_S4_MVE_NPIX;
        for (int32_t j = 0; j < n; j++) {
            ek_s4_im2col_pixel(p, input, oy, ox, buf + j * stride);
            if (++ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
        ek_s4_mve_mat(K, p->out_c, weights, bias, multiplier, shift, p->input_offset, buf,
                      n > 1 ? buf + stride : buf, n > 2 ? buf + 2 * stride : buf, n > 3 ? buf + 3 * stride : buf, n,
                      output + (size_t)pix * p->out_c, p->out_c, p->output_offset, p->act_min, p->act_max);
    }
}
