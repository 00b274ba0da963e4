/* RVV layout transforms NCHW <-> NHWC: one channel plane per pass, moved with strided
 * stores (to NHWC) or strided loads (from NHWC). */
#ifndef EK_RVV
#define EK_RVV 1
#endif
#include "ek_float_impl.h"

void EK_FN(nchw_to_nhwc)(const ek_t *x, ek_t *y, int c, int h, int w) {
    ptrdiff_t bs = (ptrdiff_t)c * sizeof(ek_t);
    for (int ci = 0; ci < c; ci++)
        for (int e = 0; e < h * w;) {
            size_t vl = EK_VSETVL8(h * w - e);
            EK_VSSE(y + (size_t)e * c + ci, bs, EK_VLE8(x + (size_t)ci * h * w + e, vl), vl);
            e += (int)vl;
        }
}

void EK_FN(nhwc_to_nchw)(const ek_t *x, ek_t *y, int c, int h, int w) {
    ptrdiff_t bs = (ptrdiff_t)c * sizeof(ek_t);
    for (int ci = 0; ci < c; ci++)
        for (int e = 0; e < h * w;) {
            size_t vl = EK_VSETVL8(h * w - e);
            EK_VSE(y + (size_t)ci * h * w + e, EK_VLSE8(x + (size_t)e * c + ci, bs, vl), vl);
            e += (int)vl;
        }
}
