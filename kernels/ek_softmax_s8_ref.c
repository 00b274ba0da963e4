/* int8 softmax (QSoftmax with the host's 256-entry exp table), portable reference.
 * y = clamp((e * 256 + sum / 2) / sum - 128), e = table[max_row - x], unsigned division. */
#include "ek_s8.h"

EK_NOIPA void ek_softmax_s8_ref(const int8_t *input, int32_t rows, int32_t row_len,
                                const uint32_t *table, int8_t *output) {
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + (size_t)r * row_len;
        int8_t *y = output + (size_t)r * row_len;
        int32_t mx = -128;
        for (int32_t i = 0; i < row_len; i++) mx = x[i] > mx ? x[i] : mx;
        uint32_t sum = 0;
        for (int32_t i = 0; i < row_len; i++) sum += table[mx - x[i]];
        for (int32_t i = 0; i < row_len; i++) {
            const uint32_t e = table[mx - x[i]];
            const int32_t q = (int32_t)((e * 256u + sum / 2u) / sum) - 128;
            y[i] = (int8_t)ek_clamp(q, -128, 127);
        }
    }
}
