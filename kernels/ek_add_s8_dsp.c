/* int8 QAdd for Cortex-M DSP.  The cost is the three 64-bit single-rounding requants
 * per element (SMULL-based), which SIMD cannot shorten; this variant loads 4 elements
 * per word and splits them with SXTB16, and is otherwise the reference arithmetic. */
#include "ek_arm_dsp.h"

EK_INLINE int8_t add1(const ek_add_s8_params_t *p, int32_t a, int32_t b) {
    const int32_t ra = ek_requant((a + p->a_offset) * (1 << p->left_shift), p->a_multiplier, p->a_shift);
    const int32_t rb = ek_requant((b + p->b_offset) * (1 << p->left_shift), p->b_multiplier, p->b_shift);
    return ek_output_stage(ra + rb, p->out_multiplier, p->out_shift, p->output_offset, p->act_min, p->act_max);
}

EK_NOIPA void ek_add_s8_dsp(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,
                            int8_t *output, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t va = ek_ld32(a + i), vb = ek_ld32(b + i);
        const uint32_t a02 = ek_sxtb16(va), a13 = ek_sxtb16_ror8(va);
        const uint32_t b02 = ek_sxtb16(vb), b13 = ek_sxtb16_ror8(vb);
        const int8_t y0 = add1(p, (int16_t)a02, (int16_t)b02);
        const int8_t y1 = add1(p, (int16_t)a13, (int16_t)b13);
        const int8_t y2 = add1(p, (int16_t)(a02 >> 16), (int16_t)(b02 >> 16));
        const int8_t y3 = add1(p, (int16_t)(a13 >> 16), (int16_t)(b13 >> 16));
        /* written after all 4 reads: out may alias a or b */
        output[i] = y0;
        output[i + 1] = y1;
        output[i + 2] = y2;
        output[i + 3] = y3;
    }
    for (; i < n; i++) output[i] = add1(p, a[i], b[i]);
}
