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

static void vzero_strided(ek_t *d, int n, ptrdiff_t bstride) {
    for (int e = 0; e < n;) {
        size_t vl = EK_VSETVL8(n - e);
        EK_VSSE(d, bstride, EK_VSPLAT8(0, vl), vl);
        e += (int)vl;
        d += vl * (bstride / (ptrdiff_t)sizeof(ek_t));
    }
}

/* Stride 1 with wo == w (e.g. "same" padding): output pixel q = oh*wo + ow reads input
 * pixel q + d with d = (i - pt)*w + (j - pl), so a whole kernel-tap row is ONE contiguous
 * copy of the input plane, shifted. Only the taps that fall into the padding need fixing:
 * whole output rows above/below the plane, and the columns that wrapped around a row edge
 * (one strided store per bad column). This is ~20x fewer instructions than row segments. */
static int is_flat(const ek_conv_params_t *p) { return p->sh == 1 && p->sw == 1 && p->wo == p->w; }

/* for tap (i, j): the output rows [*r0, *r1) inside the plane, the bad columns
 * [0, *c0) and [*c1, wo), and the shift d */
static void flat_tap(const ek_conv_params_t *p, int i, int j, int *r0, int *r1, int *c0, int *c1, ptrdiff_t *d) {
    int lo = p->pt - i, hi = p->h + p->pt - i;
    *r0 = lo < 0 ? 0 : lo > p->ho ? p->ho : lo;
    *r1 = hi > p->ho ? p->ho : hi < *r0 ? *r0 : hi;
    int dj = j - p->pl;
    *c0 = dj < 0 ? -dj : 0;
    *c1 = dj > 0 ? p->wo - dj : p->wo;
    *d = (ptrdiff_t)(i - p->pt) * p->w + dj;
}

static void zero_any(ek_t *o, int n, ptrdiff_t ns) {
    if (ns == 1) vzero(o, n);
    else vzero_strided(o, n, ns * (ptrdiff_t)sizeof(ek_t));
}

static void im2col_flat(const ek_t *x, ek_t *cols, const ek_conv_params_t *p, ptrdiff_t ks, ptrdiff_t ns) {
    int n = p->ho * p->wo;
    ptrdiff_t ostride = ns * (ptrdiff_t)sizeof(ek_t), cstride = (ptrdiff_t)p->wo * ns * sizeof(ek_t);
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * ks;
                const ek_t *xc = x + (size_t)c * p->h * p->w;
                int r0, r1, c0, c1;
                ptrdiff_t d;
                flat_tap(p, i, j, &r0, &r1, &c0, &c1, &d);
                /* copy q in [q0, q1): inside rows r0..r1 and inside the input plane */
                ptrdiff_t q0 = (ptrdiff_t)r0 * p->wo, q1 = (ptrdiff_t)r1 * p->wo;
                if (q0 < -d) q0 = -d;
                if (q1 > (ptrdiff_t)p->h * p->w - d) q1 = (ptrdiff_t)p->h * p->w - d;
                if (q1 < q0) q1 = q0;
                if (q0 > 0) zero_any(row, (int)q0, ns);
                if (q1 < n) zero_any(row + q1 * ns, (int)(n - q1), ns);
                for (ptrdiff_t q = q0; q < q1;) {
                    size_t vl = EK_VSETVL8(q1 - q);
                    ek_v8 v = EK_VLE8(xc + q + d, vl);
                    if (ns == 1) EK_VSE(row + q, v, vl);
                    else EK_VSSE(row + q * ns, ostride, v, vl);
                    q += vl;
                }
                /* wrapped columns: zero over the copied rows (others are zero already) */
                if (r1 > r0) {
                    for (int cc = 0; cc < p->wo; cc++) {
                        if (cc == c0 && c1 > c0) cc = c1; /* skip the good columns */
                        if (cc >= p->wo) break;
                        for (int r = r0; r < r1;) {
                            size_t vl = EK_VSETVL8(r1 - r);
                            EK_VSSE(row + ((ptrdiff_t)r * p->wo + cc) * ns, cstride, EK_VSPLAT8(0, vl), vl);
                            r += (int)vl;
                        }
                    }
                }
            }
}

/* im2col into cols[k*ks + n*ns]: ks = n_total, ns = 1 is the usual [K][N] matrix;
 * ks = 1, ns = K is its transpose [N][K] (patch rows), written with strided stores. */
static void im2col_any(const ek_t *x, ek_t *cols, const ek_conv_params_t *p, ptrdiff_t ks, ptrdiff_t ns) {
    if (is_flat(p)) {
        im2col_flat(x, cols, p, ks, ns);
        return;
    }
    ptrdiff_t bstride = (ptrdiff_t)p->sw * sizeof(ek_t), ostride = ns * (ptrdiff_t)sizeof(ek_t);
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * ks;
                int lo, hi;
                valid_ow(p, j, &lo, &hi);
                for (int oh = 0; oh < p->ho; oh++) {
                    ek_t *o = row + (size_t)oh * p->wo * ns;
                    int ih = oh * p->sh - p->pt + i;
                    if (ih < 0 || ih >= p->h) {
                        if (ns == 1) vzero(o, p->wo);
                        else vzero_strided(o, p->wo, ostride);
                        continue;
                    }
                    if (lo > 0) {
                        if (ns == 1) vzero(o, lo);
                        else vzero_strided(o, lo, ostride);
                    }
                    if (hi < p->wo) {
                        if (ns == 1) vzero(o + hi, p->wo - hi);
                        else vzero_strided(o + hi * ns, p->wo - hi, ostride);
                    }
                    const ek_t *src = x + ((size_t)c * p->h + ih) * p->w + (lo * p->sw - p->pl + j);
                    for (int e = lo; e < hi;) {
                        size_t vl = EK_VSETVL8(hi - e);
                        ek_v8 v = p->sw == 1 ? EK_VLE8(src, vl) : EK_VLSE8(src, bstride, vl);
                        if (ns == 1) EK_VSE(o + e, v, vl);
                        else EK_VSSE(o + e * ns, ostride, v, vl);
                        e += (int)vl;
                        src += vl * p->sw;
                    }
                }
            }
}

void EK_FN(im2col)(const ek_t *x, ek_t *cols, const ek_conv_params_t *p) {
    im2col_any(x, cols, p, (ptrdiff_t)p->ho * p->wo, 1);
}

/* col2im for the flat case: the wrapped columns of each tap row carry gradient for
 * padding, so they are skipped by zeroing them in cols first (cols is the caller's
 * scratch; this is why col2im may modify it), then each tap row is one shifted add. */
static void col2im_flat(ek_t *cols, ek_t *dx, const ek_conv_params_t *p) { /* dx += */
    int n = p->ho * p->wo;
    ptrdiff_t cstride = (ptrdiff_t)p->wo * sizeof(ek_t);
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * n;
                ek_t *dc = dx + (size_t)c * p->h * p->w;
                int r0, r1, c0, c1;
                ptrdiff_t d;
                flat_tap(p, i, j, &r0, &r1, &c0, &c1, &d);
                for (int cc = 0; cc < p->wo; cc++) {
                    if (cc == c0 && c1 > c0) cc = c1; /* only the wrapped columns */
                    if (cc >= p->wo) break;
                    for (int r = r0; r < r1;) {
                        size_t vl = EK_VSETVL8(r1 - r);
                        EK_VSSE(row + (ptrdiff_t)r * p->wo + cc, cstride, EK_VSPLAT8(0, vl), vl);
                        r += (int)vl;
                    }
                }
                ptrdiff_t q0 = (ptrdiff_t)r0 * p->wo, q1 = (ptrdiff_t)r1 * p->wo;
                if (q0 < -d) q0 = -d;
                if (q1 > (ptrdiff_t)p->h * p->w - d) q1 = (ptrdiff_t)p->h * p->w - d;
                for (ptrdiff_t q = q0; q < q1;) {
                    size_t vl = EK_VSETVL8(q1 - q);
                    EK_VSE(dc + q + d, __riscv_vfadd(EK_VLE8(dc + q + d, vl), EK_VLE8(row + q, vl), vl), vl);
                    q += vl;
                }
            }
}

static void col2im_add(const ek_t *cols, ek_t *dx, const ek_conv_params_t *p) { /* dx += */
    int n = p->ho * p->wo;
    ptrdiff_t bstride = (ptrdiff_t)p->sw * sizeof(ek_t);
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

void EK_FN(col2im)(const ek_t *cols, ek_t *dx, const ek_conv_params_t *p) {
    vzero(dx, p->cin * p->h * p->w);
    col2im_add(cols, dx, p);
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

/* Bands of output rows bound the scratch: a band [oh0, oh0+rows) is the same conv with
 * ho = rows and the top pad moved up by oh0*sh (it may go negative: the band starts
 * inside the plane), so im2col/col2im need no band logic of their own. */
static int band_rows(const ek_conv_params_t *p) { return ek_conv_band_rows(p); }

static ek_conv_params_t band(const ek_conv_params_t *p, int oh0, int rows) {
    ek_conv_params_t q = *p;
    q.pt = p->pt - oh0 * p->sh;
    q.ho = rows;
    return q;
}

size_t EK_FN(conv2d_scratch_bytes)(const ek_conv_params_t *p) {
    return (size_t)p->cin * p->kh * p->kw * band_rows(p) * p->wo * sizeof(ek_t);
}

void EK_FN(conv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, ek_t *scratch,
                   const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo, R = band_rows(p);
    if (is_pointwise(p)) {
        EK_FN(matmul)(w, x, y, p->cout, n, K, K, n, n, p->flags & EK_ACC32);
    } else {
        for (int oh0 = 0; oh0 < p->ho; oh0 += R) {
            int rows = p->ho - oh0 < R ? p->ho - oh0 : R, nb = rows * p->wo;
            ek_conv_params_t q = band(p, oh0, rows);
            im2col_any(x, scratch, &q, nb, 1);
            EK_FN(matmul)(w, scratch, y + (size_t)oh0 * p->wo, p->cout, nb, K, K, nb, n, p->flags & EK_ACC32);
        }
    }
    bias_act(y, bias, p->cout, n, p->act);
}

void EK_FN(pwconv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, int cin, int cout,
                     int hw, int act, int flags) {
    EK_FN(matmul)(w, x, y, cout, hw, cin, cin, hw, hw, flags & EK_ACC32);
    bias_act(y, bias, cout, hw, act);
}

void EK_FN(conv2d_bww)(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, ek_t *scratch,
                       const ek_conv_params_t *p) {
    /* dw[co][k] = sum_n dy[co][n] colsT[n][k]: a broadcast-FMA matmul vectorized along k,
     * which needs the patches as rows (transposed im2col); far fewer instructions than
     * dot products along n (no reductions, each patch row load serves 3 output channels).
     * Bands accumulate into dw (with EK_ACC32 the sum is rounded once per band). */
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo, R = band_rows(p);
    for (int oh0 = 0; oh0 < p->ho; oh0 += R) {
        int rows = p->ho - oh0 < R ? p->ho - oh0 : R, nb = rows * p->wo;
        ek_conv_params_t q = band(p, oh0, rows);
        int fl = (p->flags & EK_ACC32) | ((oh0 || (p->flags & EK_ACCUMULATE)) ? EK_ACCUMULATE : 0);
        im2col_any(x, scratch, &q, 1, K); /* for a 1x1 conv: x transposed */
        EK_FN(matmul)(dy + (size_t)oh0 * p->wo, scratch, dw, p->cout, K, nb, n, K, K, fl);
    }
    if (db)
        for (int co = 0; co < p->cout; co++) {
            float s = row_sum(dy + (size_t)co * n, n);
            db[co] = (p->flags & EK_ACCUMULATE) ? (ek_t)((float)db[co] + s) : (ek_t)s;
        }
}

void EK_FN(conv2d_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, ek_t *scratch,
                       const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo, R = band_rows(p);
    if (is_pointwise(p)) {
        EK_FN(matmul)(w, dy, dx, K, n, p->cout, K, n, n, EK_TRANS_A | (p->flags & EK_ACC32));
        return;
    }
    vzero(dx, p->cin * p->h * p->w);
    for (int oh0 = 0; oh0 < p->ho; oh0 += R) {
        int rows = p->ho - oh0 < R ? p->ho - oh0 : R, nb = rows * p->wo;
        ek_conv_params_t q = band(p, oh0, rows);
        EK_FN(matmul)(w, dy + (size_t)oh0 * p->wo, scratch, K, nb, p->cout, K, n, nb,
                      EK_TRANS_A | (p->flags & EK_ACC32));
        if (is_flat(&q)) col2im_flat(scratch, dx, &q);
        else col2im_add(scratch, dx, &q);
    }
}
