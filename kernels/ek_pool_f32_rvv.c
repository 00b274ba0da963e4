/* RVV max/avg pooling (no padding) and backward, vectorized along ow (strided loads for
 * stride > 1). A global pool (one output per channel) is a vector reduction instead.
 * Max backward gives each gradient to the FIRST maximum of its window, like the _ref twin
 * and torch: taps are visited in order and a lane stops once it has found its maximum. */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

static inline ek_v8 ld(const ek_t *s, int sw, size_t vl) {
    return sw == 1 ? EK_VLE8(s, vl) : EK_VLSE8(s, (ptrdiff_t)sw * sizeof(ek_t), vl);
}

static void vzero(ek_t *d, int n) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        EK_VSE(d + e, EK_VSPLAT8(0, vl), vl);
        e += (int)vl;
    }
}

static int is_global(const ek_pool_params_t *p) { return p->ho == 1 && p->wo == 1 && p->kh == p->h && p->kw == p->w; }

void EK_FN(maxpool2d)(const ek_t *x, ek_t *y, const ek_pool_params_t *p) {
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo;) {
                size_t vl = EK_VSETVL8(p->wo - ow);
                const ek_t *b = x + ((size_t)c * p->h + oh * p->sh) * p->w + (size_t)ow * p->sw;
                ek_v8 m = ld(b, p->sw, vl);
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) m = __riscv_vfmax(m, ld(b + i * p->w + j, p->sw, vl), vl);
                EK_VSE(y + ((size_t)c * p->ho + oh) * p->wo + ow, m, vl);
                ow += (int)vl;
            }
}

static float plane_sum(const ek_t *d, int n) {
    vfloat32m1_t s = __riscv_vfmv_v_f_f32m1(0.0f, 1);
    for (int e = 0; e < n;) {
#ifdef EK_F16
        size_t vl = __riscv_vsetvl_e16m4(n - e);
        s = __riscv_vfwredusum(__riscv_vle16_v_f16m4(d + e, vl), s, vl);
#else
        size_t vl = __riscv_vsetvl_e32m8(n - e);
        s = __riscv_vfredusum(__riscv_vle32_v_f32m8(d + e, vl), s, vl);
#endif
        e += (int)vl;
    }
    return __riscv_vfmv_f(s);
}

void EK_FN(avgpool2d)(const ek_t *x, ek_t *y, const ek_pool_params_t *p) {
    float inv = 1.0f / (float)(p->kh * p->kw);
    if (is_global(p)) {
        for (int c = 0; c < p->c; c++) y[c] = (ek_t)(plane_sum(x + (size_t)c * p->h * p->w, p->h * p->w) * inv);
        return;
    }
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo;) {
#ifdef EK_F16
                size_t vl = __riscv_vsetvl_e16m4(p->wo - ow);
                const ek_t *b = x + ((size_t)c * p->h + oh * p->sh) * p->w + (size_t)ow * p->sw;
                vfloat32m8_t s = __riscv_vfmv_v_f_f32m8(0.0f, vl);
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) {
                        const ek_t *q = b + i * p->w + j;
                        vfloat16m4_t v = p->sw == 1 ? __riscv_vle16_v_f16m4(q, vl) : __riscv_vlse16_v_f16m4(q, (ptrdiff_t)p->sw * 2, vl);
                        s = __riscv_vfwadd_wv(s, v, vl);
                    }
                __riscv_vse16(y + ((size_t)c * p->ho + oh) * p->wo + ow, __riscv_vfncvt_f(__riscv_vfmul(s, inv, vl), vl), vl);
#else
                size_t vl = EK_VSETVL8(p->wo - ow);
                const ek_t *b = x + ((size_t)c * p->h + oh * p->sh) * p->w + (size_t)ow * p->sw;
                ek_v8 s = EK_VSPLAT8(0, vl);
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) s = __riscv_vfadd(s, ld(b + i * p->w + j, p->sw, vl), vl);
                EK_VSE(y + ((size_t)c * p->ho + oh) * p->wo + ow, __riscv_vfmul(s, inv, vl), vl);
#endif
                ow += (int)vl;
            }
}

void EK_FN(maxpool2d_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, const ek_pool_params_t *p) {
    ptrdiff_t bs = (ptrdiff_t)p->sw * sizeof(ek_t);
    vzero(dx, p->c * p->h * p->w);
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo;) {
                size_t vl = EK_VSETVL8(p->wo - ow);
                size_t off = ((size_t)c * p->h + oh * p->sh) * p->w + (size_t)ow * p->sw;
                ek_v8 m = ld(x + off, p->sw, vl);
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) m = __riscv_vfmax(m, ld(x + off + i * p->w + j, p->sw, vl), vl);
                ek_v8 g = EK_VLE8(dy + ((size_t)c * p->ho + oh) * p->wo + ow, vl);
                /* "todo": lanes that have not yet met their maximum */
                __auto_type todo = __riscv_vmfeq(m, m, vl);
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) {
                        size_t o = off + i * p->w + j;
                        __auto_type hit = __riscv_vmand(todo, __riscv_vmfeq(ld(x + o, p->sw, vl), m, vl), vl);
                        ek_v8 d = ld(dx + o, p->sw, vl);
                        d = __riscv_vfadd_mu(hit, d, d, g, vl);
                        if (p->sw == 1) EK_VSE(dx + o, d, vl);
                        else EK_VSSE(dx + o, bs, d, vl);
                        todo = __riscv_vmandn(todo, hit, vl);
                    }
                ow += (int)vl;
            }
}

void EK_FN(avgpool2d_bw)(const ek_t *dy, ek_t *dx, const ek_pool_params_t *p) {
    ek_t inv = (ek_t)(1.0f / (float)(p->kh * p->kw));
    ptrdiff_t bs = (ptrdiff_t)p->sw * sizeof(ek_t);
    if (is_global(p)) {
        for (int c = 0; c < p->c; c++) {
            ek_t g = dy[c] * inv;
            ek_t *d = dx + (size_t)c * p->h * p->w;
            for (int e = 0; e < p->h * p->w;) {
                size_t vl = EK_VSETVL8(p->h * p->w - e);
                EK_VSE(d + e, EK_VSPLAT8(g, vl), vl);
                e += (int)vl;
            }
        }
        return;
    }
    vzero(dx, p->c * p->h * p->w);
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo;) {
                size_t vl = EK_VSETVL8(p->wo - ow);
                ek_v8 g = __riscv_vfmul(EK_VLE8(dy + ((size_t)c * p->ho + oh) * p->wo + ow, vl), inv, vl);
                ek_t *b = dx + ((size_t)c * p->h + oh * p->sh) * p->w + (size_t)ow * p->sw;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) {
                        ek_t *q = b + i * p->w + j;
                        ek_v8 d = __riscv_vfadd(ld(q, p->sw, vl), g, vl);
                        if (p->sw == 1) EK_VSE(q, d, vl);
                        else EK_VSSE(q, bs, d, vl);
                    }
                ow += (int)vl;
            }
}
