/* int8 QAdd for Cortex-M55 MVE: 4 elements per step in int32 lanes (widening byte
 * loads, narrowing byte stores), the three requantizations by the exact vector
 * requantization (ek_mve_requant_n).  Predicated tail; out may alias a or b (each chunk
 * is loaded before it is stored). */
#include "ek_arm_mve.h"

EK_NOIPA void ek_add_s8_mve(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,
                            int8_t *output, int32_t n) {
    const int32_t ls = p->left_shift;
    for (int32_t i = 0; i < n; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
        const int32x4_t va = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(a + i, pr), p->a_offset), ls);
        const int32x4_t vb = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(b + i, pr), p->b_offset), ls);
        const int32x4_t sum = vaddq_s32(ek_mve_requant_n(va, p->a_multiplier, p->a_shift),
                                        ek_mve_requant_n(vb, p->b_multiplier, p->b_shift));
        const int32x4_t y = ek_mve_out_stage(ek_mve_requant_n(sum, p->out_multiplier, p->out_shift),
                                             p->output_offset, p->act_min, p->act_max);
        vstrbq_p_s32(output + i, y, pr);
    }
}
