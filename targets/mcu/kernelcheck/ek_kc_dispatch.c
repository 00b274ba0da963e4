/* Kernel checker: one entry point that runs any int8/b1 kernel of one variant from a
 * flat description (op id, int32 params, buffer pointers).  Compiled natively with the
 * _ref kernels for the host tests (ctypes) and for Cortex-M with any variant inside the
 * checker/benchmark firmware (ek_kc_main.c).  EK_KC_ISA selects the variant. */
#include "ek_b1.h"
#include "ek_kc_dispatch.h"
#include "ek_s4.h"
#include "ek_s8.h"

#ifndef EK_KC_ISA
#define EK_KC_ISA ref
#endif
#define EK_CAT3(a, b, c) a##b##c
#define EK_KFN(op, dt, isa) EK_CAT3(op, dt, isa)
#define K(op) EK_KFN(ek_##op, _s8_, EK_KC_ISA)
#define KB(op) EK_KFN(ek_##op, _b1_, EK_KC_ISA)
#define K4(op) EK_KFN(ek_##op, _s4_, EK_KC_ISA)

int ek_kc_run(uint32_t op, const int32_t *params, void *const *bufs, void *out, void *scratch) {
    const ek_conv_s8_params_t *cp = (const ek_conv_s8_params_t *)params;
    const ek_fc_s8_params_t *fp = (const ek_fc_s8_params_t *)params;
    const ek_pool_s8_params_t *pp = (const ek_pool_s8_params_t *)params;
    switch (op) {
    case EK_KC_CONV2D:
        K(conv2d)(cp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out, scratch);
        return 0;
    case EK_KC_CONV1X1:
        K(conv1x1)(cp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out, scratch);
        return 0;
    case EK_KC_DWCONV2D:
        K(dwconv2d)(cp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out);
        return 0;
    case EK_KC_FC:
        K(fc)(fp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out, scratch);
        return 0;
    case EK_KC_FC_SPARSE:
        K(fc_sparse)(fp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5], bufs[6], out);
        return 0;
    case EK_KC_AVGPOOL:
        K(avgpool)(pp, bufs[0], out);
        return 0;
    case EK_KC_MAXPOOL:
        K(maxpool)(pp, bufs[0], out);
        return 0;
    case EK_KC_ADD: /* params: ek_add_s8_params_t, then n */
        K(add)((const ek_add_s8_params_t *)params, bufs[0], bufs[1], out,
               params[sizeof(ek_add_s8_params_t) / 4]);
        return 0;
    case EK_KC_SOFTMAX: /* params: rows, row_len */
        K(softmax)(bufs[0], params[0], params[1], bufs[1], out);
        return 0;
    case EK_KC_BCONV2D:
        KB(bconv2d)((const ek_bconv_params_t *)params, bufs[0], bufs[1], out);
        return 0;
    case EK_KC_BFC: /* params: batch, in_bits, out_features */
        KB(bfc)(params[0], params[1], params[2], bufs[0], bufs[1], out);
        return 0;
    case EK_KC_CONV2D_S4: /* weights packed two per byte (ek_s4.h) */
        K4(conv2d)(cp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out, scratch);
        return 0;
    case EK_KC_CONV1X1_S4:
        K4(conv1x1)(cp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out, scratch);
        return 0;
    case EK_KC_FC_S4:
        K4(fc)(fp, bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], out, scratch);
        return 0;
    default:
        return -1;
    }
}

uint32_t ek_kc_scratch_bytes(uint32_t op, const int32_t *params) {
    switch (op) {
    case EK_KC_CONV2D: return (uint32_t)ek_conv2d_s8_scratch_bytes((const ek_conv_s8_params_t *)params);
    case EK_KC_CONV1X1: return (uint32_t)ek_conv1x1_s8_scratch_bytes((const ek_conv_s8_params_t *)params);
    case EK_KC_FC: return (uint32_t)ek_fc_s8_scratch_bytes((const ek_fc_s8_params_t *)params);
    case EK_KC_CONV2D_S4: return (uint32_t)ek_conv2d_s4_scratch_bytes((const ek_conv_s8_params_t *)params);
    case EK_KC_CONV1X1_S4: return (uint32_t)ek_conv1x1_s4_scratch_bytes((const ek_conv_s8_params_t *)params);
    case EK_KC_FC_S4: return (uint32_t)ek_fc_s4_scratch_bytes((const ek_fc_s8_params_t *)params);
    default: return 0;
    }
}
