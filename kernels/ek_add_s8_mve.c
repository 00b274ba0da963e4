/* int8 QAdd for Cortex-M55 MVE: 4 elements per step in int32 lanes (widening byte
 * loads, narrowing byte stores), the three requantizations by the exact vector
 * requantization of ek_mve_requant_n.  Which of its two forms each requant takes
 * (shift >= -1 or not) is decided once per call: the loop is specialized for the 8
 * combinations, so no test and no constant set-up remain inside it and whole 4-element chunks run unpredicated (13.5 -> ~4.5
 * instructions per element).  Predicated tail; out may alias a or b (each chunk is
 * loaded before it is stored). */
#include "ek_arm_mve.h"

/* ek_mve_requant_n with the form fixed at compile time; sh1 = shift + 1. */
#define EK_RQ(acc, up, m, sh1) ((up) ? vrmulhq_s32(vqshlq_r_s32((acc), (sh1)), (m)) \
                                     : vrshlq_n_s32(vmulhq_s32((acc), (m)), (sh1)))

__attribute__((always_inline)) static inline void add_loop(const ek_add_s8_params_t *p, const int8_t *a,
                                                           const int8_t *b, int8_t *output, int32_t n,
                                                           const int up_a, const int up_b, const int up_o) {
    const int32_t sa = p->a_shift + 1, sb = p->b_shift + 1, so = p->out_shift + 1;
    const int32x4_t ma = vdupq_n_s32(p->a_multiplier), mb = vdupq_n_s32(p->b_multiplier);
    const int32x4_t mo = vdupq_n_s32(p->out_multiplier);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    /* (x + off) << ls as one VMLAS: x * 2^ls + (off << ls) (the same int32 value, mod 2^32) */
    const int32x4_t pow_ls = vdupq_n_s32((int32_t)(1u << p->left_shift));
    const int32_t ao = (int32_t)((uint32_t)p->a_offset << p->left_shift);
    const int32_t bo = (int32_t)((uint32_t)p->b_offset << p->left_shift);
    const int32_t zp = p->output_offset;
#define EK_ADD_STEP(LOAD_A, LOAD_B, STORE)                                                   \
    do {                                                                                     \
        const int32x4_t va = vmlasq_n_s32(LOAD_A, pow_ls, ao);                               \
        const int32x4_t vb = vmlasq_n_s32(LOAD_B, pow_ls, bo);                               \
        const int32x4_t sum = vaddq_s32(EK_RQ(va, up_a, ma, sa), EK_RQ(vb, up_b, mb, sb));   \
        const int32x4_t y = vminq_s32(vmaxq_s32(vqaddq_n_s32(EK_RQ(sum, up_o, mo, so), zp), lo), hi); \
        STORE;                                                                               \
    } while (0)
    /* whole chunks unpredicated (no VCTP/VPST in the loop), then one predicated tail */
    for (int32_t i = n >> 2; i > 0; i--, a += 4, b += 4, output += 4)
        EK_ADD_STEP(vldrbq_s32(a), vldrbq_s32(b), vstrbq_s32(output, y));
    if (n & 3) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n & 3));
        EK_ADD_STEP(vldrbq_z_s32(a, pr), vldrbq_z_s32(b, pr), vstrbq_p_s32(output, y, pr));
    }
#undef EK_ADD_STEP
}
#undef EK_RQ

/* One out-of-line function per combination: at -O0 the 8 inlined loops in one frame
 * would overflow a small stack (each keeps its own vector temporaries there). */
#define EK_ADD_VARIANT(ua, ub, uo)                                                                  \
    __attribute__((noinline)) static void add_##ua##ub##uo(const ek_add_s8_params_t *p, const int8_t *a, \
                                                          const int8_t *b, int8_t *output, int32_t n) { \
        add_loop(p, a, b, output, n, ua, ub, uo);                                                   \
    }
EK_ADD_VARIANT(0, 0, 0)
EK_ADD_VARIANT(0, 0, 1)
EK_ADD_VARIANT(0, 1, 0)
EK_ADD_VARIANT(0, 1, 1)
EK_ADD_VARIANT(1, 0, 0)
EK_ADD_VARIANT(1, 0, 1)
EK_ADD_VARIANT(1, 1, 0)
EK_ADD_VARIANT(1, 1, 1)
#undef EK_ADD_VARIANT

EK_NOIPA void ek_add_s8_mve(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,
                            int8_t *output, int32_t n) {
    const int ua = p->a_shift >= -1, ub = p->b_shift >= -1, uo = p->out_shift >= -1;
    switch (ua * 4 + ub * 2 + uo) {
    case 0: add_000(p, a, b, output, n); break;
    case 1: add_001(p, a, b, output, n); break;
    case 2: add_010(p, a, b, output, n); break;
    case 3: add_011(p, a, b, output, n); break;
    case 4: add_100(p, a, b, output, n); break;
    case 5: add_101(p, a, b, output, n); break;
    case 6: add_110(p, a, b, output, n); break;
    default: add_111(p, a, b, output, n); break;
    }
}
