/* int8 QSoftmax for Cortex-M DSP: the row max is found 4 lanes at a time (SSUB8/SEL);
 * the table lookups and the per-element unsigned division are scalar by nature. */
#include "ek_arm_dsp.h"

EK_NOIPA void ek_softmax_s8_dsp(const int8_t *input, int32_t rows, int32_t row_len,
                                const uint32_t *table, int8_t *output) {
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + (size_t)r * row_len;
        int8_t *y = output + (size_t)r * row_len;
        uint32_t m4 = 0x80808080u;
        int32_t i = 0;
        for (; i + 4 <= row_len; i += 4) {
            const uint32_t v = ek_ld32(x + i);
            (void)__ssub8((int32_t)m4, (int32_t)v);
            m4 = (uint32_t)__sel((int32_t)m4, (int32_t)v);
        }
        int32_t mx = -128;
        for (int32_t j = 0; j < 4; j++) {
            const int32_t v = (int8_t)(m4 >> (8 * j));
            mx = v > mx ? v : mx;
        }
        for (; i < row_len; i++) mx = x[i] > mx ? x[i] : mx;
        const uint32_t *t = table + mx;  /* table[mx - x] == t[-x] */
        uint32_t sum = 0;
        for (i = 0; i < row_len; i++) sum += t[-x[i]];
        const uint32_t half = sum / 2u;
        for (i = 0; i < row_len; i++) {
            const int32_t q = (int32_t)((t[-x[i]] * 256u + half) / sum) - 128;
            y[i] = (int8_t)(q > 127 ? 127 : q);  /* q >= -128 always */
        }
    }
}
