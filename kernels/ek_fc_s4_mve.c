/* Fully connected with 4-bit packed weights for Cortex-M55 MVE: up to 4 batch rows are
 * copied into 32-byte padded columns and go through the packed-weight VMLADAVA matmul
 * together (ek_s4_mve.h).  Scratch: ek_fc_s4_scratch_bytes. */
#include "ek_s4_mve.h"

EK_NOIPA void ek_fc_s4_mve(const ek_fc_s8_params_t *p, const int8_t *input, const uint8_t *weights,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output, void *scratch) {
    const int32_t K = p->in_features, stride = EK_S4_K32(K), M = p->out_features;
    int8_t *buf = (int8_t *)scratch;
    for (int32_t b = 0; b < p->batch; b += EK_S4_MVE_NPIX) {
        const int32_t n = p->batch - b < EK_S4_MVE_NPIX ? p->batch - b : EK_S4_MVE_NPIX;
        for (int32_t j = 0; j < n; j++) ek_s4_mve_copy(buf + j * stride, input + (size_t)(b + j) * K, K);
        ek_s4_mve_mat(K, M, weights, bias, multiplier, shift, p->input_offset, buf, n > 1 ? buf + stride : buf,
                      n > 2 ? buf + 2 * stride : buf, n > 3 ? buf + 3 * stride : buf, n, output + (size_t)b * M, M,
                      p->output_offset, p->act_min, p->act_max);
    }
}
