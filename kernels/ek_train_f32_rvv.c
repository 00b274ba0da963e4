/* RVV training helpers: residual add, SGD step (computed in FP32), overflow check;
 * the loss itself is shared scalar code (a handful of logits). */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

void EK_FN(add)(const ek_t *a, const ek_t *b, ek_t *y, int n) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        EK_VSE(y + e, __riscv_vfadd(EK_VLE8(a + e, vl), EK_VLE8(b + e, vl), vl), vl);
        e += (int)vl;
    }
}

void EK_FN(sgd)(ek_t *w, const ek_t *g, int n, float lr_over_scale) {
    for (int e = 0; e < n;) {
#ifdef EK_F16
        size_t vl = __riscv_vsetvl_e16m4(n - e);
        vfloat32m8_t w32 = __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(w + e, vl), vl);
        vfloat32m8_t g32 = __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(g + e, vl), vl);
        w32 = __riscv_vfnmsac(w32, lr_over_scale, g32, vl);
        __riscv_vse16(w + e, __riscv_vfncvt_f(w32, vl), vl);
#else
        size_t vl = __riscv_vsetvl_e32m8(n - e);
        vfloat32m8_t w32 = __riscv_vle32_v_f32m8(w + e, vl);
        w32 = __riscv_vfnmsac(w32, lr_over_scale, __riscv_vle32_v_f32m8(g + e, vl), vl);
        __riscv_vse32(w + e, w32, vl);
#endif
        e += (int)vl;
    }
}

int EK_FN(all_finite)(const ek_t *g, int n) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        ek_v8 v = EK_VLE8(g + e, vl);
        /* v - v is 0 for finite lanes, NaN for inf/NaN */
        if (__riscv_vcpop(__riscv_vmfne(__riscv_vfsub(v, v, vl), (ek_t)0, vl), vl)) return 0;
        e += (int)vl;
    }
    return 1;
}

float EK_FN(softmax_xent)(const ek_t *logits, int label, ek_t *dlogits, int n, float loss_scale) {
    return ek_softmax_xent_body(logits, label, dlogits, n, loss_scale);
}
