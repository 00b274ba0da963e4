/* Binary (1-bit) kernels: XNOR-popcount convolution and fully connected (BConv/BGemm,
 * docs/integer-ops.md).  Bit 1 = +1, bit 0 = -1; 32 values per uint32 word along the
 * input-channel axis (channels last), bit j of word i = channel 32*i + j; unused pad
 * bits are 0 in both x and w.  Output: int32 dot products
 *     dot = K - 2 * popcount(x XOR w),  K = number of real terms (padding included).
 * Spatial padding is -1 (all bits 0) and counts in K.  No scratch; no allocation.
 * Variants _ref/_dsp/_mve have identical signatures (see ek_s8.h for the naming).
 */
#ifndef EK_B1_H
#define EK_B1_H
#include "ek_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Input NHWC packed: [in_h][in_w][words], words = (in_c + 31) / 32.
 * Weights [out_c][k_h][k_w][words].  Output NHWC int32 [out_h][out_w][out_c]. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t dil_h, dil_w;
} ek_bconv_params_t;

#define EK_B1_WORDS(bits) (((bits) + 31) / 32)

/* x [batch][words(in_bits)], w [out_features][words(in_bits)] -> out [batch][out_features]. */
#define EK_B1_DECLARE(isa)                                                                      \
    void ek_bconv2d_b1_##isa(const ek_bconv_params_t *p, const uint32_t *input,                 \
                             const uint32_t *weights, int32_t *output);                         \
    void ek_bfc_b1_##isa(int32_t batch, int32_t in_bits, int32_t out_features,                  \
                         const uint32_t *input, const uint32_t *weights, int32_t *output);

EK_B1_DECLARE(ref)
EK_B1_DECLARE(dsp)
EK_B1_DECLARE(mve)

#ifdef __cplusplus
}
#endif
#endif
