/* RVV activations and their backward (torch's derivative conventions, as the _ref twin). */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

#define EK_STRIP_LOOP(n, body)                  \
    for (int e = 0; e < (n);) {                 \
        size_t vl = EK_VSETVL8((n) - e);        \
        body;                                   \
        e += (int)vl;                           \
    }

void EK_FN(relu)(const ek_t *x, ek_t *y, int n) {
    EK_STRIP_LOOP(n, EK_VSE(y + e, __riscv_vfmax(EK_VLE8(x + e, vl), (ek_t)0, vl), vl))
}
void EK_FN(relu6)(const ek_t *x, ek_t *y, int n) {
    EK_STRIP_LOOP(n, EK_VSE(y + e, __riscv_vfmin(__riscv_vfmax(EK_VLE8(x + e, vl), (ek_t)0, vl), (ek_t)6, vl), vl))
}
void EK_FN(hardswish)(const ek_t *x, ek_t *y, int n) {
    EK_STRIP_LOOP(n, {
        ek_v8 v = EK_VLE8(x + e, vl);
        ek_v8 t = __riscv_vfmin(__riscv_vfmax(__riscv_vfadd(v, (ek_t)3, vl), (ek_t)0, vl), (ek_t)6, vl);
        EK_VSE(y + e, __riscv_vfmul(__riscv_vfmul(v, t, vl), (ek_t)(1.0f / 6.0f), vl), vl);
    })
}
void EK_FN(relu_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, int n) {
    EK_STRIP_LOOP(n, {
        __auto_type keep = __riscv_vmfgt(EK_VLE8(x + e, vl), (ek_t)0, vl);
        EK_VSE(dx + e, __riscv_vmerge(EK_VSPLAT8(0, vl), EK_VLE8(dy + e, vl), keep, vl), vl);
    })
}
void EK_FN(relu6_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, int n) {
    EK_STRIP_LOOP(n, {
        ek_v8 v = EK_VLE8(x + e, vl);
        __auto_type keep = __riscv_vmand(__riscv_vmfgt(v, (ek_t)0, vl), __riscv_vmflt(v, (ek_t)6, vl), vl);
        EK_VSE(dx + e, __riscv_vmerge(EK_VSPLAT8(0, vl), EK_VLE8(dy + e, vl), keep, vl), vl);
    })
}
void EK_FN(hardswish_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, int n) {
    EK_STRIP_LOOP(n, {
        ek_v8 v = EK_VLE8(x + e, vl);
        /* x/3 + 1/2 inside [-3, 3], 0 below, 1 above */
        ek_v8 d = __riscv_vfadd(__riscv_vfmul(v, (ek_t)(1.0f / 3.0f), vl), (ek_t)0.5f, vl);
        d = __riscv_vfmerge(d, (ek_t)0, __riscv_vmflt(v, (ek_t)-3, vl), vl);
        d = __riscv_vfmerge(d, (ek_t)1, __riscv_vmfgt(v, (ek_t)3, vl), vl);
        EK_VSE(dx + e, __riscv_vfmul(d, EK_VLE8(dy + e, vl), vl), vl);
    })
}
