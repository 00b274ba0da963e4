/* Scalar reference activations and their backward (torch's derivative conventions). */
#include "ek_float_impl.h"

void EK_FN(relu)(const ek_t *x, ek_t *y, int n) {
    for (int i = 0; i < n; i++) y[i] = x[i] > (ek_t)0 ? x[i] : (ek_t)0;
}
void EK_FN(relu6)(const ek_t *x, ek_t *y, int n) {
    for (int i = 0; i < n; i++) y[i] = x[i] < (ek_t)0 ? (ek_t)0 : x[i] > (ek_t)6 ? (ek_t)6 : x[i];
}
void EK_FN(hardswish)(const ek_t *x, ek_t *y, int n) {
    for (int i = 0; i < n; i++) {
        ek_t t = x[i] + (ek_t)3;
        t = t < (ek_t)0 ? (ek_t)0 : t > (ek_t)6 ? (ek_t)6 : t;
        y[i] = x[i] * t * (ek_t)(1.0f / 6.0f);
    }
}
void EK_FN(relu_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, int n) {
    for (int i = 0; i < n; i++) dx[i] = x[i] > (ek_t)0 ? dy[i] : (ek_t)0;
}
void EK_FN(relu6_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, int n) {
    for (int i = 0; i < n; i++) dx[i] = (x[i] > (ek_t)0 && x[i] < (ek_t)6) ? dy[i] : (ek_t)0;
}
void EK_FN(hardswish_bw)(const ek_t *x, const ek_t *dy, ek_t *dx, int n) {
    for (int i = 0; i < n; i++) {
        ek_t d = x[i] < (ek_t)-3 ? (ek_t)0 : x[i] > (ek_t)3 ? (ek_t)1 : x[i] * (ek_t)(1.0f / 3.0f) + (ek_t)0.5f;
        dx[i] = dy[i] * d;
    }
}
