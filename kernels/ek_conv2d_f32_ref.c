/* Scalar reference conv2d (groups = 1) as im2col + matmul, and its two gradients:
 *   forward  y[co][n]  = sum_k w[co][k] cols[k][n] + b[co]      (k = (ci,i,j), n = (oh,ow))
 *   bww      dw[co][k] = sum_n dy[co][n] cols[k][n]; db[co] = sum_n dy[co][n]
 *   bwx      dcols     = w^T dy, then dx = col2im(dcols)
 * A 1x1 / stride 1 / no-pad conv needs no im2col: x itself is the column matrix. */
#include "ek_float_impl.h"

static int is_pointwise(const ek_conv_params_t *p) {
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && !p->pt && !p->pl && !p->pb &&
           !p->pr;
}

void EK_FN(im2col)(const ek_t *x, ek_t *cols, const ek_conv_params_t *p) {
    int n = p->ho * p->wo;
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * n;
                for (int oh = 0; oh < p->ho; oh++)
                    for (int ow = 0; ow < p->wo; ow++) {
                        int ih = oh * p->sh - p->pt + i, iw = ow * p->sw - p->pl + j;
                        int in = ih >= 0 && ih < p->h && iw >= 0 && iw < p->w;
                        row[oh * p->wo + ow] = in ? x[((size_t)c * p->h + ih) * p->w + iw] : (ek_t)0;
                    }
            }
}

void EK_FN(col2im)(const ek_t *cols, ek_t *dx, const ek_conv_params_t *p) {
    int n = p->ho * p->wo;
    for (size_t e = 0; e < (size_t)p->cin * p->h * p->w; e++) dx[e] = 0;
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                const ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * n;
                for (int oh = 0; oh < p->ho; oh++)
                    for (int ow = 0; ow < p->wo; ow++) {
                        int ih = oh * p->sh - p->pt + i, iw = ow * p->sw - p->pl + j;
                        if (ih >= 0 && ih < p->h && iw >= 0 && iw < p->w)
                            dx[((size_t)c * p->h + ih) * p->w + iw] += row[oh * p->wo + ow];
                    }
            }
}

static void bias_act(ek_t *y, const ek_t *bias, int rows, int n, int act) {
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < n; e++) {
            ek_t v = y[(size_t)r * n + e];
            if (bias) v += bias[r];
            if (act != EK_ACT_NONE && v < (ek_t)0) v = 0;
            if (act == EK_ACT_RELU6 && v > (ek_t)6) v = 6;
            y[(size_t)r * n + e] = v;
        }
}

/* enough for forward, bww and bwx (a 1x1 conv needs it only for bww: the transposed x) */
size_t EK_FN(conv2d_scratch_bytes)(const ek_conv_params_t *p) {
    return (size_t)p->cin * p->kh * p->kw * p->ho * p->wo * sizeof(ek_t);
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
            float s = 0.0f; /* a bias gradient is a long sum: always FP32 */
            for (int e = 0; e < n; e++) s += (float)dy[(size_t)co * n + e];
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
