/* Scalar reference layout transforms NCHW <-> NHWC (one image). */
#include "ek_float_impl.h"

void EK_FN(nchw_to_nhwc)(const ek_t *x, ek_t *y, int c, int h, int w) {
    for (int ci = 0; ci < c; ci++)
        for (int p = 0; p < h * w; p++) y[(size_t)p * c + ci] = x[(size_t)ci * h * w + p];
}

void EK_FN(nhwc_to_nchw)(const ek_t *x, ek_t *y, int c, int h, int w) {
    for (int ci = 0; ci < c; ci++)
        for (int p = 0; p < h * w; p++) y[(size_t)ci * h * w + p] = x[(size_t)p * c + ci];
}
