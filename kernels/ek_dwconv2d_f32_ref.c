/* Scalar reference depthwise conv2d (weight [C][1][kh][kw]) and its gradients. */
#include "ek_float_impl.h"

size_t EK_FN(dwconv2d_scratch_bytes)(const ek_conv_params_t *p) {
    /* what the RVV twin needs (padded plane + a padded-width output plane); the
     * reference itself needs nothing, but twins answer the same */
    return (size_t)(p->h + p->pt + p->pb + p->ho) * (p->w + p->pl + p->pr) * sizeof(ek_t);
}

static int in_x(const ek_conv_params_t *p, int oh, int ow, int i, int j, size_t *off) {
    int ih = oh * p->sh - p->pt + i, iw = ow * p->sw - p->pl + j;
    if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) return 0;
    *off = (size_t)ih * p->w + iw;
    return 1;
}

void EK_FN(dwconv2d)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, ek_t *scratch,
                     const ek_conv_params_t *p) {
    (void)scratch;
    for (int c = 0; c < p->cin; c++) {
        const ek_t *xc = x + (size_t)c * p->h * p->w, *wc = w + (size_t)c * p->kh * p->kw;
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo; ow++) {
                ek_t s = bias ? bias[c] : (ek_t)0;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) {
                        size_t off;
                        if (in_x(p, oh, ow, i, j, &off)) s += wc[i * p->kw + j] * xc[off];
                    }
                if (p->act != EK_ACT_NONE && s < (ek_t)0) s = 0;
                if (p->act == EK_ACT_RELU6 && s > (ek_t)6) s = 6;
                y[((size_t)c * p->ho + oh) * p->wo + ow] = s;
            }
    }
}

void EK_FN(dwconv2d_bww)(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, ek_t *scratch,
                         const ek_conv_params_t *p) {
    (void)scratch;
    int acc32 = p->flags & EK_ACC32, accum = p->flags & EK_ACCUMULATE;
    for (int c = 0; c < p->cin; c++) {
        const ek_t *xc = x + (size_t)c * p->h * p->w, *dyc = dy + (size_t)c * p->ho * p->wo;
        for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
                float s32 = 0.0f;
                ek_t s = 0;
                for (int oh = 0; oh < p->ho; oh++)
                    for (int ow = 0; ow < p->wo; ow++) {
                        size_t off;
                        if (!in_x(p, oh, ow, i, j, &off)) continue;
                        if (acc32) s32 += (float)dyc[oh * p->wo + ow] * (float)xc[off];
                        else s += dyc[oh * p->wo + ow] * xc[off];
                    }
                ek_t *d = &dw[((size_t)c * p->kh + i) * p->kw + j];
                if (acc32) *d = accum ? (ek_t)((float)*d + s32) : (ek_t)s32;
                else *d = accum ? (ek_t)(*d + s) : s;
            }
        if (db) {
            float s = 0.0f;
            for (int e = 0; e < p->ho * p->wo; e++) s += (float)dyc[e];
            db[c] = accum ? (ek_t)((float)db[c] + s) : (ek_t)s;
        }
    }
}

void EK_FN(dwconv2d_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, ek_t *scratch,
                         const ek_conv_params_t *p) {
    (void)scratch;
    for (size_t e = 0; e < (size_t)p->cin * p->h * p->w; e++) dx[e] = 0;
    for (int c = 0; c < p->cin; c++) {
        ek_t *dxc = dx + (size_t)c * p->h * p->w;
        const ek_t *dyc = dy + (size_t)c * p->ho * p->wo, *wc = w + (size_t)c * p->kh * p->kw;
        for (int oh = 0; oh < p->ho; oh++)
            for (int i = 0; i < p->kh; i++)
                for (int j = 0; j < p->kw; j++)
                    for (int ow = 0; ow < p->wo; ow++) {
                        size_t off;
                        if (in_x(p, oh, ow, i, j, &off)) dxc[off] += wc[i * p->kw + j] * dyc[oh * p->wo + ow];
                    }
    }
}
