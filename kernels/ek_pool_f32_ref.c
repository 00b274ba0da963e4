/* Scalar reference max/avg pooling (no padding) and backward. Average sums in FP32.
 * Max backward routes each gradient to the first maximum of its window (torch's rule). */
#include "ek_float_impl.h"

void EK_FN(maxpool2d)(const ek_t *x, ek_t *y, const ek_pool_params_t *p) {
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo; ow++) {
                const ek_t *xw = x + ((size_t)c * p->h + oh * p->sh) * p->w + ow * p->sw;
                ek_t m = xw[0];
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++)
                        if (xw[i * p->w + j] > m) m = xw[i * p->w + j];
                y[((size_t)c * p->ho + oh) * p->wo + ow] = m;
            }
}

void EK_FN(avgpool2d)(const ek_t *x, ek_t *y, const ek_pool_params_t *p) {
    float inv = 1.0f / (float)(p->kh * p->kw);
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo; ow++) {
                const ek_t *xw = x + ((size_t)c * p->h + oh * p->sh) * p->w + ow * p->sw;
                float s = 0.0f;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) s += (float)xw[i * p->w + j];
                y[((size_t)c * p->ho + oh) * p->wo + ow] = (ek_t)(s * inv);
            }
}

void EK_FN(maxpool2d_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, const ek_pool_params_t *p) {
    for (size_t e = 0; e < (size_t)p->c * p->h * p->w; e++) dx[e] = 0;
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo; ow++) {
                size_t base = ((size_t)c * p->h + oh * p->sh) * p->w + ow * p->sw, best = base;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++)
                        if (x[base + i * p->w + j] > x[best]) best = base + i * p->w + j;
                dx[best] += dy[((size_t)c * p->ho + oh) * p->wo + ow];
            }
}

void EK_FN(avgpool2d_bw)(const ek_t *dy, ek_t *dx, const ek_pool_params_t *p) {
    ek_t inv = (ek_t)(1.0f / (float)(p->kh * p->kw));
    for (size_t e = 0; e < (size_t)p->c * p->h * p->w; e++) dx[e] = 0;
    for (int c = 0; c < p->c; c++)
        for (int oh = 0; oh < p->ho; oh++)
            for (int ow = 0; ow < p->wo; ow++) {
                ek_t g = dy[((size_t)c * p->ho + oh) * p->wo + ow] * inv;
                ek_t *dw = dx + ((size_t)c * p->h + oh * p->sh) * p->w + ow * p->sw;
                for (int i = 0; i < p->kh; i++)
                    for (int j = 0; j < p->kw; j++) dw[i * p->w + j] += g;
            }
}
