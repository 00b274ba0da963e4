/* Binary fully connected for Cortex-M4/M7: XOR + SWAR popcount, 2 weight rows per
 * input load; per-word bit counts are summed bytewise (USADA8 on the DSP extension)
 * so the final multiply-shift of the popcount runs once per 8 words instead of per word. */
#include <arm_acle.h>

#include "ek_b1.h"
#include "ek_popcount.h"

/* Byte-wise bit counts (each byte 0..8) of v. */
EK_INLINE uint32_t bytecounts(uint32_t v) {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (v + (v >> 4)) & 0x0F0F0F0Fu;
}

/* USADA8(a, 0, acc) = acc + sum of the 4 bytes of a. */
EK_INLINE uint32_t sum_bytes(uint32_t a, uint32_t acc) { return __usada8(a, 0u, acc); }

EK_NOIPA void ek_bfc_b1_dsp(int32_t batch, int32_t in_bits, int32_t out_features,
                            const uint32_t *input, const uint32_t *weights, int32_t *output) {
    const int32_t words = EK_B1_WORDS(in_bits);
    for (int32_t b = 0; b < batch; b++) {
        const uint32_t *x = input + (size_t)b * words;
        int32_t m = 0;
        for (; m + 2 <= out_features; m += 2) {
            const uint32_t *w0 = weights + (size_t)m * words, *w1 = w0 + words;
            uint32_t d0 = 0, d1 = 0;
            for (int32_t i = 0; i < words; i++) {
                const uint32_t xv = x[i];
                d0 = sum_bytes(bytecounts(xv ^ w0[i]), d0);
                d1 = sum_bytes(bytecounts(xv ^ w1[i]), d1);
            }
            output[(size_t)b * out_features + m] = in_bits - 2 * (int32_t)d0;
            output[(size_t)b * out_features + m + 1] = in_bits - 2 * (int32_t)d1;
        }
        for (; m < out_features; m++) {
            const uint32_t *w = weights + (size_t)m * words;
            int32_t d = 0;
            for (int32_t i = 0; i < words; i++) d += ek_popcount32_swar(x[i] ^ w[i]);
            output[(size_t)b * out_features + m] = in_bits - 2 * d;
        }
    }
}
