/* RVV depthwise conv2d and its gradients. Each channel is first copied into a zero-padded
 * plane (the caller's scratch), so the inner loops have no bounds checks: output rows are
 * vectorized along ow, one vector load (strided when sw > 1) per kernel tap.
 * Weight gradient: one LMUL-8 partial-sum vector per tap, reduced once per tap. */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

static void vzero(ek_t *d, int n) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        EK_VSE(d + e, EK_VSPLAT8(0, vl), vl);
        e += (int)vl;
    }
}

static void vcopy(ek_t *d, const ek_t *s, int n) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        EK_VSE(d + e, EK_VLE8(s + e, vl), vl);
        e += (int)vl;
    }
}

/* rows x cols block copy between row pitches: along rows (unit stride) when rows are long,
 * along columns (strided) when they are short (a DS-CNN plane is 25 rows of 5) */
static void copy2d(ek_t *d, int dld, const ek_t *s, int sld, int rows, int cols) {
    if (cols >= rows) {
        for (int r = 0; r < rows; r++) vcopy(d + (size_t)r * dld, s + (size_t)r * sld, cols);
        return;
    }
    ptrdiff_t ds = (ptrdiff_t)dld * sizeof(ek_t), ss = (ptrdiff_t)sld * sizeof(ek_t);
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows;) {
            size_t vl = EK_VSETVL8(rows - r);
            EK_VSSE(d + (size_t)r * dld + c, ds, EK_VLSE8(s + (size_t)r * sld + c, ss, vl), vl);
            r += (int)vl;
        }
}

/* copy plane c of x into the interior of the padded plane (its border stays zero) */
static void fill_pad(ek_t *pad, const ek_t *xc, const ek_conv_params_t *p, int wp) {
    copy2d(pad + (size_t)p->pt * wp + p->pl, wp, xc, p->w, p->h, p->w);
}

static inline ek_v8 load_x(const ek_t *s, int sw, size_t vl) {
    return sw == 1 ? EK_VLE8(s, vl) : EK_VLSE8(s, (ptrdiff_t)sw * sizeof(ek_t), vl);
}

/* the padded plane, then one output-sized plane with padded-width rows (flat path) */
size_t EK_FN(dwconv2d_scratch_bytes)(const ek_conv_params_t *p) {
    return (size_t)(p->h + p->pt + p->pb + p->ho) * (p->w + p->pl + p->pr) * sizeof(ek_t);
}

/* Stride 1 ("flat" path): with output rows laid out at the padded width wp, output q reads
 * padded input q + i*wp + j, so each tap is ONE contiguous shifted vector pass over the
 * whole plane instead of one short pass per output row (DS-CNN planes are 5 wide).
 * q runs to (ho-1)*wp + wo; the wp - wo extra columns per row are computed and dropped. */
static int is_flat(const ek_conv_params_t *p) { return p->sh == 1 && p->sw == 1; }

static void dw_fwd_flat(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, ek_t *scratch,
                        const ek_conv_params_t *p) {
    int wp = p->w + p->pl + p->pr, hp = p->h + p->pt + p->pb, qn = (p->ho - 1) * wp + p->wo;
    ek_t *pad = scratch, *yw = scratch + (size_t)hp * wp;
    vzero(pad, hp * wp);
    for (int c = 0; c < p->cin; c++) {
        const ek_t *wc = w + (size_t)c * p->kh * p->kw;
        fill_pad(pad, x + (size_t)c * p->h * p->w, p, wp);
        for (int q = 0; q < qn;) {
            size_t vl = EK_VSETVL8(qn - q);
            ek_v8 acc = EK_VSPLAT8(bias ? bias[c] : (ek_t)0, vl);
            for (int i = 0; i < p->kh; i++)
                for (int j = 0; j < p->kw; j++)
                    acc = __riscv_vfmacc(acc, wc[i * p->kw + j], EK_VLE8(pad + q + i * wp + j, vl), vl);
            if (p->act != EK_ACT_NONE) acc = __riscv_vfmax(acc, (ek_t)0, vl);
            if (p->act == EK_ACT_RELU6) acc = __riscv_vfmin(acc, (ek_t)6, vl);
            EK_VSE(yw + q, acc, vl);
            q += (int)vl;
        }
        copy2d(y + (size_t)c * p->ho * p->wo, p->wo, yw, wp, p->ho, p->wo);
    }
}

/* dy with rows spread to the padded width, zeros in the extra columns */
static void spread_dy(ek_t *dyw, const ek_t *dyc, const ek_conv_params_t *p, int wp) {
    copy2d(dyw, wp, dyc, p->wo, p->ho, p->wo);
}

void EK_FN(dwconv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, ek_t *scratch,
                     const ek_conv_params_t *p) {
    if (is_flat(p)) {
        dw_fwd_flat(x, w, bias, y, scratch, p);
        return;
    }
    int wp = p->w + p->pl + p->pr, hp = p->h + p->pt + p->pb;
    vzero(scratch, hp * wp);
    for (int c = 0; c < p->cin; c++) {
        const ek_t *wc = w + (size_t)c * p->kh * p->kw;
        fill_pad(scratch, x + (size_t)c * p->h * p->w, p, wp);
        for (int oh = 0; oh < p->ho; oh++) {
            ek_t *yr = y + ((size_t)c * p->ho + oh) * p->wo;
            for (int ow = 0; ow < p->wo;) {
                size_t vl = EK_VSETVL8(p->wo - ow);
                ek_v8 acc = EK_VSPLAT8(bias ? bias[c] : (ek_t)0, vl);
                const ek_t *base = scratch + (size_t)oh * p->sh * wp + (size_t)ow * p->sw;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++)
                        acc = __riscv_vfmacc(acc, wc[i * p->kw + j], load_x(base + i * wp + j, p->sw, vl), vl);
                if (p->act != EK_ACT_NONE) acc = __riscv_vfmax(acc, (ek_t)0, vl);
                if (p->act == EK_ACT_RELU6) acc = __riscv_vfmin(acc, (ek_t)6, vl);
                EK_VSE(yr + ow, acc, vl);
                ow += (int)vl;
            }
        }
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

/* weight gradient of one tap over the flat plane: sum_q dyw[q] * pad[q + off] */
static float tap_dot(const ek_t *dyw, const ek_t *pad, int qn, int acc32) {
#ifdef EK_F16
    if (acc32) {
        size_t vlmax = __riscv_vsetvlmax_e32m8();
        vfloat32m8_t s = __riscv_vfmv_v_f_f32m8(0.0f, vlmax);
        for (int q = 0; q < qn;) {
            size_t vl = __riscv_vsetvl_e16m4(qn - q);
            s = __riscv_vfwmacc_tu(s, __riscv_vle16_v_f16m4(dyw + q, vl), __riscv_vle16_v_f16m4(pad + q, vl), vl);
            q += (int)vl;
        }
        return __riscv_vfmv_f(__riscv_vfredusum(s, __riscv_vfmv_v_f_f32m1(0.0f, 1), vlmax));
    }
#endif
    (void)acc32;
    size_t vlmax = EK_VSETVL8((size_t)-1);
    ek_v8 s = EK_VSPLAT8(0, vlmax);
    for (int q = 0; q < qn;) {
        size_t vl = EK_VSETVL8(qn - q);
        s = __riscv_vfmacc_tu(s, EK_VLE8(dyw + q, vl), EK_VLE8(pad + q, vl), vl);
        q += (int)vl;
    }
    return (float)__riscv_vfmv_f(__riscv_vfredusum(s, EK_VSPLAT1(0, 1), vlmax));
}

static void dw_bww_flat(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, ek_t *scratch,
                        const ek_conv_params_t *p) {
    int wp = p->w + p->pl + p->pr, hp = p->h + p->pt + p->pb, qn = (p->ho - 1) * wp + p->wo;
    int accum = p->flags & EK_ACCUMULATE;
    ek_t *pad = scratch, *dyw = scratch + (size_t)hp * wp;
    vzero(scratch, (hp + p->ho) * wp);
    for (int c = 0; c < p->cin; c++) {
        const ek_t *dyc = dy + (size_t)c * p->ho * p->wo;
        fill_pad(pad, x + (size_t)c * p->h * p->w, p, wp);
        spread_dy(dyw, dyc, p, wp);
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                float r = tap_dot(dyw, pad + i * wp + j, qn, p->flags & EK_ACC32);
                ek_t *d = &dw[((size_t)c * p->kh + i) * p->kw + j];
                *d = accum ? (ek_t)((float)*d + r) : (ek_t)r;
            }
        if (db) {
            float sm = plane_sum(dyc, p->ho * p->wo);
            db[c] = accum ? (ek_t)((float)db[c] + sm) : (ek_t)sm;
        }
    }
}

void EK_FN(dwconv2d_bww)(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, ek_t *scratch,
                         const ek_conv_params_t *p) {
    if (is_flat(p)) {
        dw_bww_flat(x, dy, dw, db, scratch, p);
        return;
    }
    int wp = p->w + p->pl + p->pr, hp = p->h + p->pt + p->pb;
    int accum = p->flags & EK_ACCUMULATE;
    vzero(scratch, hp * wp);
    for (int c = 0; c < p->cin; c++) {
        const ek_t *dyc = dy + (size_t)c * p->ho * p->wo;
        fill_pad(scratch, x + (size_t)c * p->h * p->w, p, wp);
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                float r;
#ifdef EK_F16
                if (p->flags & EK_ACC32) {
                    size_t vlmax = __riscv_vsetvlmax_e32m8();
                    vfloat32m8_t s = __riscv_vfmv_v_f_f32m8(0.0f, vlmax);
                    for (int oh = 0; oh < p->ho; oh++) {
                        const ek_t *xr = scratch + (size_t)(oh * p->sh + i) * wp + j;
                        for (int ow = 0; ow < p->wo;) {
                            size_t vl = __riscv_vsetvl_e16m4(p->wo - ow);
                            vfloat16m4_t xv = p->sw == 1 ? __riscv_vle16_v_f16m4(xr + ow, vl)
                                : __riscv_vlse16_v_f16m4(xr + (size_t)ow * p->sw, (ptrdiff_t)p->sw * 2, vl);
                            s = __riscv_vfwmacc_tu(s, __riscv_vle16_v_f16m4(dyc + oh * p->wo + ow, vl), xv, vl);
                            ow += (int)vl;
                        }
                    }
                    r = __riscv_vfmv_f(__riscv_vfredusum(s, __riscv_vfmv_v_f_f32m1(0.0f, 1), vlmax));
                } else
#endif
                {
                    size_t vlmax = EK_VSETVL8((size_t)-1);
                    ek_v8 s = EK_VSPLAT8(0, vlmax);
                    for (int oh = 0; oh < p->ho; oh++) {
                        const ek_t *xr = scratch + (size_t)(oh * p->sh + i) * wp + j;
                        for (int ow = 0; ow < p->wo;) {
                            size_t vl = EK_VSETVL8(p->wo - ow);
                            s = __riscv_vfmacc_tu(s, EK_VLE8(dyc + oh * p->wo + ow, vl),
                                                  load_x(xr + (size_t)ow * p->sw, p->sw, vl), vl);
                            ow += (int)vl;
                        }
                    }
                    r = (float)__riscv_vfmv_f(__riscv_vfredusum(s, EK_VSPLAT1(0, 1), vlmax));
                }
                ek_t *d = &dw[((size_t)c * p->kh + i) * p->kw + j];
                *d = accum ? (ek_t)((float)*d + r) : (ek_t)r;
            }
        if (db) {
            float s = plane_sum(dyc, p->ho * p->wo);
            db[c] = accum ? (ek_t)((float)db[c] + s) : (ek_t)s;
        }
    }
}

static void dw_bwx_flat(const ek_t *dy, const ek_t *w, ek_t *dx, ek_t *scratch,
                        const ek_conv_params_t *p) {
    int wp = p->w + p->pl + p->pr, hp = p->h + p->pt + p->pb, qn = (p->ho - 1) * wp + p->wo;
    ek_t *dpad = scratch, *dyw = scratch + (size_t)hp * wp;
    vzero(dyw, p->ho * wp);
    for (int c = 0; c < p->cin; c++) {
        const ek_t *wc = w + (size_t)c * p->kh * p->kw;
        vzero(dpad, hp * wp);
        spread_dy(dyw, dy + (size_t)c * p->ho * p->wo, p, wp);
        for (int q = 0; q < qn;) {
            size_t vl = EK_VSETVL8(qn - q);
            ek_v8 g = EK_VLE8(dyw + q, vl);
            for (int i = 0; i < p->kh; i++)
                for (int j = 0; j < p->kw; j++) {
                    ek_t *d = dpad + q + i * wp + j;
                    EK_VSE(d, __riscv_vfmacc(EK_VLE8(d, vl), wc[i * p->kw + j], g, vl), vl);
                }
            q += (int)vl;
        }
        copy2d(dx + (size_t)c * p->h * p->w, p->w, dpad + (size_t)p->pt * wp + p->pl, wp, p->h, p->w);
    }
}

void EK_FN(dwconv2d_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, ek_t *scratch,
                         const ek_conv_params_t *p) {
    if (is_flat(p)) {
        dw_bwx_flat(dy, w, dx, scratch, p);
        return;
    }
    int wp = p->w + p->pl + p->pr, hp = p->h + p->pt + p->pb;
    ptrdiff_t bstride = (ptrdiff_t)p->sw * sizeof(ek_t);
    for (int c = 0; c < p->cin; c++) {
        const ek_t *wc = w + (size_t)c * p->kh * p->kw, *dyc = dy + (size_t)c * p->ho * p->wo;
        vzero(scratch, hp * wp);
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo;) {
                size_t vl = EK_VSETVL8(p->wo - ow);
                ek_v8 g = EK_VLE8(dyc + oh * p->wo + ow, vl);
                ek_t *base = scratch + (size_t)oh * p->sh * wp + (size_t)ow * p->sw;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) {
                        ek_t *d = base + i * wp + j;
                        if (p->sw == 1)
                            EK_VSE(d, __riscv_vfmacc(EK_VLE8(d, vl), wc[i * p->kw + j], g, vl), vl);
                        else
                            EK_VSSE(d, bstride, __riscv_vfmacc(EK_VLSE8(d, bstride, vl), wc[i * p->kw + j], g, vl), vl);
                    }
                ow += (int)vl;
            }
        ek_t *dxc = dx + (size_t)c * p->h * p->w;
        copy2d(dxc, p->w, scratch + (size_t)p->pt * wp + p->pl, wp, p->h, p->w);
    }
}
