/* int8 QAdd for Cortex-M55.  Each element needs three single-rounding requants of
 * 64-bit products, which MVE cannot do in vector lanes (no 64-bit lane add/shift), so
 * this is the scalar arithmetic (GCC uses the v8.1-M 64-bit shifts ASRL/LSLL). */
#include "ek_arm_mve.h"

EK_NOIPA void ek_add_s8_mve(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,
                            int8_t *output, int32_t n) {
    const int32_t ls = 1 << p->left_shift;
    for (int32_t i = 0; i < n; i++) {
        const int32_t ra = ek_requant((a[i] + p->a_offset) * ls, p->a_multiplier, p->a_shift);
        const int32_t rb = ek_requant((b[i] + p->b_offset) * ls, p->b_multiplier, p->b_shift);
        output[i] = ek_output_stage(ra + rb, p->out_multiplier, p->out_shift, p->output_offset,
                                    p->act_min, p->act_max);
    }
}
