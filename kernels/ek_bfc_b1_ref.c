/* Binary (XNOR-popcount) fully connected, portable reference. */
#include "ek_b1.h"

static int32_t popcount32(uint32_t v) {
    int32_t n = 0;
    while (v) {
        v &= v - 1u;
        n++;
    }
    return n;
}

EK_NOIPA void ek_bfc_b1_ref(int32_t batch, int32_t in_bits, int32_t out_features,
                            const uint32_t *input, const uint32_t *weights, int32_t *output) {
    const int32_t words = EK_B1_WORDS(in_bits);
    for (int32_t b = 0; b < batch; b++) {
        const uint32_t *x = input + (size_t)b * words;
        for (int32_t m = 0; m < out_features; m++) {
            const uint32_t *w = weights + (size_t)m * words;
            int32_t diff = 0;
            for (int32_t i = 0; i < words; i++) diff += popcount32(x[i] ^ w[i]);
            output[(size_t)b * out_features + m] = in_bits - 2 * diff;
        }
    }
}
