/* RVV conv2d (groups = 1) as im2col + matmul, and its gradients; same math as the _ref twin.
 * im2col/col2im move whole output-row segments: the in-bounds columns of a kernel tap form
 * one contiguous range of ow, read with a (strided for sw > 1) vector load; the padded
 * ends are vector zero stores. */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

static int is_pointwise(const ek_conv_params_t *p) {
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && !p->pt && !p->pl && !p->pb &&
           !p->pr;
}

/* [lo, hi): the ow whose input column ow*sw - pl + j lies inside [0, w) */
static void valid_ow(const ek_conv_params_t *p, int j, int *lo, int *hi) {
    int a = p->pl - j, l = a > 0 ? (a + p->sw - 1) / p->sw : 0;
    int b = p->w - 1 + p->pl - j, h = b >= 0 ? b / p->sw + 1 : 0;
    if (h > p->wo) h = p->wo;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

static void vzero(ek_t *d, int n) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        EK_VSE(d + e, EK_VSPLAT8(0, vl), vl);
        e += (int)vl;
    }
}

void EK_FN(im2col)(const ek_t *x, ek_t *cols, const ek_conv_params_t *p) {
    int n = p->ho * p->wo;
    ptrdiff_t bstride = (ptrdiff_t)p->sw * sizeof(ek_t);
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * n;
                int lo, hi;
                valid_ow(p, j, &lo, &hi);
                for (int oh = 0; oh < p->ho; oh++) {
                    ek_t *o = row + oh * p->wo;
                    int ih = oh * p->sh - p->pt + i;
                    if (ih < 0 || ih >= p->h) {
                        vzero(o, p->wo);
                        continue;
                    }
                    if (lo > 0) vzero(o, lo);
                    if (hi < p->wo) vzero(o + hi, p->wo - hi);
                    const ek_t *src = x + ((size_t)c * p->h + ih) * p->w + (lo * p->sw - p->pl + j);
                    for (int e = lo; e < hi;) {
                        size_t vl = EK_VSETVL8(hi - e);
                        ek_v8 v = p->sw == 1 ? EK_VLE8(src, vl) : EK_VLSE8(src, bstride, vl);
                        EK_VSE(o + e, v, vl);
                        e += (int)vl;
                        src += vl * p->sw;
                    }
                }
            }
}

void EK_FN(col2im)(const ek_t *cols, ek_t *dx, const ek_conv_params_t *p) {
    int n = p->ho * p->wo;
    ptrdiff_t bstride = (ptrdiff_t)p->sw * sizeof(ek_t);
    vzero(dx, p->cin * p->h * p->w);
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                const ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * n;
                int lo, hi;
                valid_ow(p, j, &lo, &hi);
                for (int oh = 0; oh < p->ho; oh++) {
                    int ih = oh * p->sh - p->pt + i;
                    if (ih < 0 || ih >= p->h) continue;
                    const ek_t *s = row + oh * p->wo;
                    ek_t *d = dx + ((size_t)c * p->h + ih) * p->w + (lo * p->sw - p->pl + j);
                    for (int e = lo; e < hi;) {
                        size_t vl = EK_VSETVL8(hi - e);
                        if (p->sw == 1) {
                            EK_VSE(d, __riscv_vfadd(EK_VLE8(d, vl), EK_VLE8(s + e, vl), vl), vl);
                        } else {
                            ek_v8 v = __riscv_vfadd(EK_VLSE8(d, bstride, vl), EK_VLE8(s + e, vl), vl);
                            EK_VSSE(d, bstride, v, vl);
                        }
                        e += (int)vl;
                        d += vl * p->sw;
                    }
                }
            }
}

static void bias_act(ek_t *y, const ek_t *bias, int rows, int n, int act) {
    if (!bias && act == EK_ACT_NONE) return;
    for (int r = 0; r < rows; r++) {
        ek_t *yr = y + (size_t)r * n;
        for (int e = 0; e < n;) {
            size_t vl = EK_VSETVL8(n - e);
            ek_v8 v = EK_VLE8(yr + e, vl);
            if (bias) v = __riscv_vfadd(v, bias[r], vl);
            if (act != EK_ACT_NONE) v = __riscv_vfmax(v, (ek_t)0, vl);
            if (act == EK_ACT_RELU6) v = __riscv_vfmin(v, (ek_t)6, vl);
            EK_VSE(yr + e, v, vl);
            e += (int)vl;
        }
    }
}

/* sum of a row, accumulated in FP32 for both dtypes (bias gradients are long sums) */
static float row_sum(const ek_t *d, int n) {
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

size_t EK_FN(conv2d_scratch_bytes)(const ek_conv_params_t *p) {
    return is_pointwise(p) ? 0 : (size_t)p->cin * p->kh * p->kw * p->ho * p->wo * sizeof(ek_t);
}

void EK_FN(conv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, ek_t *scratch,
                   const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo;
    const ek_t *cols = x;
    if (!is_pointwise(p)) {
        EK_FN(im2col)(x, scratch, p);
        cols = scratch;
    }
    EK_FN(matmul)(w, cols, y, p->cout, n, K, K, n, n, p->flags & EK_ACC32);
    bias_act(y, bias, p->cout, n, p->act);
}

void EK_FN(pwconv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, int cin, int cout,
                     int hw, int act, int flags) {
    EK_FN(matmul)(w, x, y, cout, hw, cin, cin, hw, hw, flags & EK_ACC32);
    bias_act(y, bias, cout, hw, act);
}

void EK_FN(conv2d_bww)(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, ek_t *scratch,
                       const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo;
    const ek_t *cols = x;
    if (!is_pointwise(p)) {
        EK_FN(im2col)(x, scratch, p);
        cols = scratch;
    }
    EK_FN(matmul_nt)(dy, cols, dw, p->cout, K, n, n, n, K, p->flags & (EK_ACC32 | EK_ACCUMULATE));
    if (db)
        for (int co = 0; co < p->cout; co++) {
            float s = row_sum(dy + (size_t)co * n, n);
            db[co] = (p->flags & EK_ACCUMULATE) ? (ek_t)((float)db[co] + s) : (ek_t)s;
        }
}

void EK_FN(conv2d_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, ek_t *scratch,
                       const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo;
    if (is_pointwise(p)) {
        EK_FN(matmul)(w, dy, dx, K, n, p->cout, K, n, n, EK_TRANS_A | (p->flags & EK_ACC32));
        return;
    }
    EK_FN(matmul)(w, dy, scratch, K, n, p->cout, K, n, n, EK_TRANS_A | (p->flags & EK_ACC32));
    EK_FN(col2im)(scratch, dx, p);
}
