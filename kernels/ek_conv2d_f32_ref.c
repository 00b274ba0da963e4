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

static void im2col_rows(const ek_t *x, ek_t *cols, const ek_conv_params_t *p, int oh0, int oh1) {
    int nb = (oh1 - oh0) * p->wo;
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * nb;
                for (int oh = oh0; oh < oh1; oh++)
                    for (int ow = 0; ow < p->wo; ow++) {
                        int ih = oh * p->sh - p->pt + i, iw = ow * p->sw - p->pl + j;
                        int in = ih >= 0 && ih < p->h && iw >= 0 && iw < p->w;
                        row[(oh - oh0) * p->wo + ow] = in ? x[((size_t)c * p->h + ih) * p->w + iw] : (ek_t)0;
                    }
            }
}

static void col2im_rows(const ek_t *cols, ek_t *dx, const ek_conv_params_t *p, int oh0, int oh1) {
    int nb = (oh1 - oh0) * p->wo;
    for (int c = 0; c < p->cin; c++)
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                const ek_t *row = cols + (size_t)((c * p->kh + i) * p->kw + j) * nb;
                for (int oh = oh0; oh < oh1; oh++)
                    for (int ow = 0; ow < p->wo; ow++) {
                        int ih = oh * p->sh - p->pt + i, iw = ow * p->sw - p->pl + j;
                        if (ih >= 0 && ih < p->h && iw >= 0 && iw < p->w)
                            dx[((size_t)c * p->h + ih) * p->w + iw] += row[(oh - oh0) * p->wo + ow];
                    }
            }
}

void EK_FN(im2col)(const ek_t *x, ek_t *cols, const ek_conv_params_t *p) { im2col_rows(x, cols, p, 0, p->ho); }

void EK_FN(col2im)(const ek_t *cols, ek_t *dx, const ek_conv_params_t *p) {
    for (size_t e = 0; e < (size_t)p->cin * p->h * p->w; e++) dx[e] = 0;
    col2im_rows(cols, dx, p, 0, p->ho);
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

/* bands of ek_conv_band_rows(p) output rows bound the scratch (same as the RVV twin) */
size_t EK_FN(conv2d_scratch_bytes)(const ek_conv_params_t *p) {
    return (size_t)p->cin * p->kh * p->kw * ek_conv_band_rows(p) * p->wo * sizeof(ek_t);
}

void EK_FN(conv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, ek_t *scratch,
                   const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo, R = ek_conv_band_rows(p);
    if (is_pointwise(p)) {
        EK_FN(matmul)(w, x, y, p->cout, n, K, K, n, n, p->flags & EK_ACC32);
    } else {
        for (int oh0 = 0; oh0 < p->ho; oh0 += R) {
            int oh1 = oh0 + R < p->ho ? oh0 + R : p->ho, nb = (oh1 - oh0) * p->wo;
            im2col_rows(x, scratch, p, oh0, oh1);
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
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo, R = ek_conv_band_rows(p);
    for (int oh0 = 0; oh0 < p->ho; oh0 += R) {
        int oh1 = oh0 + R < p->ho ? oh0 + R : p->ho, nb = (oh1 - oh0) * p->wo;
        int fl = (p->flags & EK_ACC32) | ((oh0 || (p->flags & EK_ACCUMULATE)) ? EK_ACCUMULATE : 0);
        im2col_rows(x, scratch, p, oh0, oh1);
        EK_FN(matmul_nt)(dy + (size_t)oh0 * p->wo, scratch, dw, p->cout, K, nb, n, nb, K, fl);
    }
    if (db)
        for (int co = 0; co < p->cout; co++) {
            float s = 0.0f; /* a bias gradient is a long sum: always FP32 */
            for (int e = 0; e < n; e++) s += (float)dy[(size_t)co * n + e];
            db[co] = (p->flags & EK_ACCUMULATE) ? (ek_t)((float)db[co] + s) : (ek_t)s;
        }
}

void EK_FN(conv2d_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, ek_t *scratch,
                       const ek_conv_params_t *p) {
    int K = p->cin * p->kh * p->kw, n = p->ho * p->wo, R = ek_conv_band_rows(p);
    if (is_pointwise(p)) {
        EK_FN(matmul)(w, dy, dx, K, n, p->cout, K, n, n, EK_TRANS_A | (p->flags & EK_ACC32));
        return;
    }
    for (size_t e = 0; e < (size_t)p->cin * p->h * p->w; e++) dx[e] = 0;
    for (int oh0 = 0; oh0 < p->ho; oh0 += R) {
        int oh1 = oh0 + R < p->ho ? oh0 + R : p->ho, nb = (oh1 - oh0) * p->wo;
        EK_FN(matmul)(w, dy + (size_t)oh0 * p->wo, scratch, K, nb, p->cout, K, n, nb, EK_TRANS_A | (p->flags & EK_ACC32));
        col2im_rows(scratch, dx, p, oh0, oh1);
    }
}
