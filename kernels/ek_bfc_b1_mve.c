/* Binary fully connected for Cortex-M55 MVE: 4 words (128 bits) per step, XOR, the
 * SWAR per-byte bit count in vector lanes (MVE has no VCNT) and VADDVA.U8 to sum the 16
 * byte counts.  Predicated word tail. */
#include "ek_arm_mve.h"
#include "ek_b1.h"

EK_INLINE uint8x16_t bytecounts(uint32x4_t v) {
    v = vsubq_u32(v, vandq_u32(vshrq_n_u32(v, 1), vdupq_n_u32(0x55555555u)));
    v = vaddq_u32(vandq_u32(v, vdupq_n_u32(0x33333333u)), vandq_u32(vshrq_n_u32(v, 2), vdupq_n_u32(0x33333333u)));
    v = vandq_u32(vaddq_u32(v, vshrq_n_u32(v, 4)), vdupq_n_u32(0x0F0F0F0Fu));
    return vreinterpretq_u8_u32(v);
}

/* sum of popcount(x[i] ^ w[i]) over `words` words (x = NULL: popcount(w)). */
EK_INLINE uint32_t xor_popcount(const uint32_t *x, const uint32_t *w, int32_t words, uint32_t acc) {
    for (int32_t i = 0; i < words; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(words - i));
        uint32x4_t v = vldrwq_z_u32(w + i, pr);
        if (x) v = veorq_u32(v, vldrwq_z_u32(x + i, pr));
        acc = vaddvaq_u8(acc, bytecounts(v));
    }
    return acc;
}

EK_NOIPA void ek_bfc_b1_mve(int32_t batch, int32_t in_bits, int32_t out_features,
                            const uint32_t *input, const uint32_t *weights, int32_t *output) {
    const int32_t words = EK_B1_WORDS(in_bits);
    for (int32_t b = 0; b < batch; b++)
        for (int32_t m = 0; m < out_features; m++)
            output[(size_t)b * out_features + m] =
                in_bits - 2 * (int32_t)xor_popcount(input + (size_t)b * words, weights + (size_t)m * words, words, 0);
}
