/* int8 elementwise add with requantization (QAdd), portable reference. */
#include "ek_s8.h"

EK_NOIPA void ek_add_s8_ref(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,
                            int8_t *output, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        const int32_t ra = ek_requant((a[i] + p->a_offset) * (1 << p->left_shift), p->a_multiplier, p->a_shift);
        const int32_t rb = ek_requant((b[i] + p->b_offset) * (1 << p->left_shift), p->b_multiplier, p->b_shift);
        output[i] = ek_output_stage(ra + rb, p->out_multiplier, p->out_shift, p->output_offset,
                                    p->act_min, p->act_max);
    }
}
