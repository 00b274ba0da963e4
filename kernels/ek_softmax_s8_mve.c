/* int8 QSoftmax for Cortex-M55 MVE: the row max by VMAXV (16 lanes, predicated tail);
 * the table lookups and the per-element unsigned division stay scalar. */
#include "ek_arm_mve.h"

EK_NOIPA void ek_softmax_s8_mve(const int8_t *input, int32_t rows, int32_t row_len,
                                const uint32_t *table, int8_t *output) {
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *x = input + (size_t)r * row_len;
        int8_t *y = output + (size_t)r * row_len;
        int8_t mx = -128;
        for (int32_t i = 0; i < row_len; i += 16)
            mx = vmaxvq_p_s8(mx, vldrbq_z_s8(x + i, vctp8q((uint32_t)(row_len - i))),
                             vctp8q((uint32_t)(row_len - i)));
        const uint32_t *t = table + mx;  /* table[mx - x] == t[-x] */
        uint32_t sum = 0;
        for (int32_t i = 0; i < row_len; i++) sum += t[-x[i]];
        const uint32_t half = sum / 2u;
        for (int32_t i = 0; i < row_len; i++) {
            const int32_t q = (int32_t)((t[-x[i]] * 256u + half) / sum) - 128;
            y[i] = (int8_t)(q > 127 ? 127 : q);
        }
    }
}
