/* RVV linear layer (weight [out][in]) and gradients, as the _ref twin: the math is three
 * matmuls (forward x w^T via dot products, bww dy^T x and bwx dy w via broadcast-FMA). */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

void EK_FN(linear)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, int batch, int in,
                   int out, int act, int flags) {
    EK_FN(matmul_nt)(x, w, y, batch, out, in, in, in, out, flags & EK_ACC32);
    if (!bias && act == EK_ACT_NONE) return;
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < out;) {
            size_t vl = EK_VSETVL8(out - o);
            ek_v8 v = EK_VLE8(y + (size_t)b * out + o, vl);
            if (bias) v = __riscv_vfadd(v, EK_VLE8(bias + o, vl), vl);
            if (act != EK_ACT_NONE) v = __riscv_vfmax(v, (ek_t)0, vl);
            if (act == EK_ACT_RELU6) v = __riscv_vfmin(v, (ek_t)6, vl);
            EK_VSE(y + (size_t)b * out + o, v, vl);
            o += (int)vl;
        }
}

void EK_FN(linear_bww)(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, int batch, int in,
                       int out, int flags) {
    EK_FN(matmul)(dy, x, dw, out, in, batch, out, in, in,
                  EK_TRANS_A | (flags & (EK_ACC32 | EK_ACCUMULATE)));
    if (!db) return;
    /* db[o] = sum_b dy[b][o], vectorized along o, summed in FP32 */
    for (int o = 0; o < out;) {
#ifdef EK_F16
        size_t vl = __riscv_vsetvl_e16m4(out - o);
        vfloat32m8_t s = (flags & EK_ACCUMULATE) ? __riscv_vfwcvt_f(__riscv_vle16_v_f16m4(db + o, vl), vl)
                                                 : __riscv_vfmv_v_f_f32m8(0.0f, vl);
        for (int b = 0; b < batch; b++) s = __riscv_vfwadd_wv(s, __riscv_vle16_v_f16m4(dy + (size_t)b * out + o, vl), vl);
        __riscv_vse16(db + o, __riscv_vfncvt_f(s, vl), vl);
#else
        size_t vl = __riscv_vsetvl_e32m8(out - o);
        vfloat32m8_t s = (flags & EK_ACCUMULATE) ? __riscv_vle32_v_f32m8(db + o, vl)
                                                 : __riscv_vfmv_v_f_f32m8(0.0f, vl);
        for (int b = 0; b < batch; b++) s = __riscv_vfadd(s, __riscv_vle32_v_f32m8(dy + (size_t)b * out + o, vl), vl);
        __riscv_vse32(db + o, s, vl);
#endif
        o += (int)vl;
    }
}

void EK_FN(linear_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, int batch, int in, int out,
                       int flags) {
    EK_FN(matmul)(dy, w, dx, batch, in, out, out, in, in, flags & EK_ACC32);
}
