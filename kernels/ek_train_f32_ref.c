/* Scalar reference training helpers: residual add, SGD step, overflow check and the
 * softmax cross-entropy loss that starts backpropagation (with loss scaling). */
#include "ek_float_impl.h"

void EK_FN(add)(const ek_t *a, const ek_t *b, ek_t *y, int n) {
    for (int i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void EK_FN(sgd)(ek_t *w, const ek_t *g, int n, float lr_over_scale) {
    /* the update is computed in FP32: lr*g is often below FP16's resolution of w */
    for (int i = 0; i < n; i++) w[i] = (ek_t)((float)w[i] - lr_over_scale * (float)g[i]);
}

int EK_FN(all_finite)(const ek_t *g, int n) {
    for (int i = 0; i < n; i++)
        if (!((float)g[i] - (float)g[i] == 0.0f)) return 0; /* inf - inf and NaN are NaN */
    return 1;
}

float EK_FN(softmax_xent)(const ek_t *logits, int label, ek_t *dlogits, int n, float loss_scale) {
    return ek_softmax_xent_body(logits, label, dlogits, n, loss_scale);
}
