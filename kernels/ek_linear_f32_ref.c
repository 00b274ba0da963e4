/* Scalar reference linear layer (weight [out][in]) and its gradients, as matmuls:
 *   forward y = x w^T + b;  bww dw = dy^T x, db = sum_b dy;  bwx dx = dy w */
#include "ek_float_impl.h"

void EK_FN(linear)(const ek_t *x, const ek_t *w, const ek_t *bias, ek_t *y, int batch, int in,
                   int out, int act, int flags) {
    EK_FN(matmul_nt)(x, w, y, batch, out, in, in, in, out, flags & EK_ACC32);
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < out; o++) {
            ek_t v = y[(size_t)b * out + o];
            if (bias) v += bias[o];
            if (act != EK_ACT_NONE && v < (ek_t)0) v = 0;
            if (act == EK_ACT_RELU6 && v > (ek_t)6) v = 6;
            y[(size_t)b * out + o] = v;
        }
}

void EK_FN(linear_bww)(const ek_t *x, const ek_t *dy, ek_t *dw, ek_t *db, int batch, int in,
                       int out, int flags) {
    EK_FN(matmul)(dy, x, dw, out, in, batch, out, in, in,
                  EK_TRANS_A | (flags & (EK_ACC32 | EK_ACCUMULATE)));
    if (db)
        for (int o = 0; o < out; o++) {
            float s = 0.0f;
            for (int b = 0; b < batch; b++) s += (float)dy[(size_t)b * out + o];
            db[o] = (flags & EK_ACCUMULATE) ? (ek_t)((float)db[o] + s) : (ek_t)s;
        }
}

void EK_FN(linear_bwx)(const ek_t *dy, const ek_t *w, ek_t *dx, int batch, int in, int out,
                       int flags) {
    EK_FN(matmul)(dy, w, dx, batch, in, out, out, in, in, flags & EK_ACC32);
}
