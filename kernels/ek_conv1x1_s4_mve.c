/* 1x1 convolution with 4-bit packed weights for Cortex-M55 MVE: 4 pixels' channel
 * vectors are copied into 32-byte padded columns (VLD2 reads whole 32s), then the
 * packed-weight VMLADAVA matmul (ek_s4_mve.h).  Scratch: ek_conv1x1_s4_scratch_bytes. */
#include "ek_s4_mve.h"

EK_NOIPA void ek_conv1x1_s4_mve(EK_S4_CONV_ARGS, void *scratch) {
    const int32_t K = p->in_c, stride = EK_S4_K32(K);
    int8_t *buf = (int8_t *)scratch;
    const int32_t n_pix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < n_pix; pix += EK_S4_MVE_NPIX) {
        const int32_t n = n_pix - pix < EK_S4_MVE_NPIX ? n_pix - pix : EK_S4_MVE_NPIX;
        for (int32_t j = 0; j < n; j++) ek_s4_mve_copy(buf + j * stride, ek_s4_1x1_pixel(p, input, pix + j), K);
        ek_s4_mve_mat(K, p->out_c, weights, bias, multiplier, shift, p->input_offset, buf,
                      n > 1 ? buf + stride : buf, n > 2 ? buf + 2 * stride : buf, n > 3 ? buf + 3 * stride : buf, n,
                      output + (size_t)pix * p->out_c, p->out_c, p->output_offset, p->act_min, p->act_max);
    }
}
