/* Floating-point kernels (FP32 and FP16) for inference and on-device training.
 *
 * Every kernel exists in four variants with identical signatures (only the element type
 * differs between dtypes):  ek_<op>_f32_ref  ek_<op>_f32_rvv  ek_<op>_f16_ref  ek_<op>_f16_rvv
 * The _ref twins are plain scalar C (compile them with -fno-vectorize -fno-slp-vectorize);
 * the _rvv ones use RVV 1.0 intrinsics, vector-length agnostic (vsetvl everywhere), so one
 * binary runs at any VLEN >= 128 (Zvl128b).
 *
 * Layouts: activations are one image in NCHW (C planes of H*W); conv weights OIHW;
 * linear weights [out][in] (torch layout). Kernels never allocate: conv/depthwise take a
 * scratch buffer of ek_<op>_scratch_bytes_<sfx>(p) bytes (the same for a _ref and its
 * _rvv twin; conv2d's covers one band of output rows, see ek_conv_band_rows).
 *
 * FP16 numerics: by default FP16 kernels accumulate in FP16 (fused multiply-add, one
 * rounding per step). With EK_ACC32 in flags, the reductions of matmul-based kernels
 * (conv2d, pointwise, linear, and all weight gradients) accumulate in FP32 and round once.
 * Tolerances against an FP64 oracle on the same FP16 inputs, as max|err| / max|ref|
 * (tests/test_riscv_kernels.py; measured worst case in brackets):
 *   FP16 forward, FP16 accumulation, K <= 150:   5e-3  [2.2e-3]  (grows ~ sqrt(K))
 *   FP16 forward, EK_ACC32 (output rounding only): 1e-3  [4.4e-4]
 *   FP16 gradients (bww/bwx with EK_ACC32):         2e-3  [6.0e-4]
 *   FP32 (ref and rvv, any op):                      2e-6  [7.1e-7]
 * Pooling averages and bias gradients always sum in FP32.
 * Loss scaling: ek_softmax_xent_* multiplies the logit gradient by loss_scale, so every
 * gradient downstream is scaled; ek_sgd_* takes lr / loss_scale; ek_all_finite_* tells if
 * the step overflowed (skip it and lower the scale).
 */
#ifndef EK_FLOAT_H
#define EK_FLOAT_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* flags */
#define EK_ACCUMULATE 1  /* C += result instead of C = result (gradient accumulation) */
#define EK_TRANS_A 2     /* matmul: A is stored [K][M] (read as A[k*lda + i]) */
#define EK_ACC32 4       /* FP16 only: accumulate reductions in FP32 */

/* fused activations */
#define EK_ACT_NONE 0
#define EK_ACT_RELU 1
#define EK_ACT_RELU6 2

typedef struct {
    int32_t cin, h, w;          /* input plane */
    int32_t cout, kh, kw;       /* depthwise: cout == cin, weight [C][1][kh][kw] */
    int32_t sh, sw;             /* strides */
    int32_t pt, pl, pb, pr;     /* pads: top, left, bottom, right */
    int32_t ho, wo;             /* output plane: set by ek_conv_params_init */
    int32_t act;                /* EK_ACT_* fused into the forward output */
    int32_t flags;              /* EK_ACCUMULATE (gradients), EK_ACC32 */
} ek_conv_params_t;

typedef struct {
    int32_t c, h, w, kh, kw, sh, sw, ho, wo; /* no padding; ho/wo set by ek_pool_params_init */
} ek_pool_params_t;

static inline void ek_conv_params_init(ek_conv_params_t *p) {
    p->ho = (p->h + p->pt + p->pb - p->kh) / p->sh + 1;
    p->wo = (p->w + p->pl + p->pr - p->kw) / p->sw + 1;
}
/* conv2d works in bands of output rows (~EK_CONV_BAND_PIXELS output pixels each) so its
 * im2col scratch stays small: cin*kh*kw * band_rows * wo elements, not the whole image */
#define EK_CONV_BAND_PIXELS 256
static inline int ek_conv_band_rows(const ek_conv_params_t *p) {
    int r = EK_CONV_BAND_PIXELS / (p->wo > 0 ? p->wo : 1);
    return r < 1 ? 1 : r > p->ho ? p->ho : r;
}
static inline void ek_pool_params_init(ek_pool_params_t *p) {
    p->ho = (p->h - p->kh) / p->sh + 1;
    p->wo = (p->w - p->kw) / p->sw + 1;
}

#define EK_FLOAT_DECLS(T, S)                                                                   \
    /* C[M][N] (+)= op(A)[M][K] * B[K][N]; op(A) = A[i*lda+k] or, with EK_TRANS_A, A[k*lda+i] */ \
    void ek_matmul_##S(const T *A, const T *B, T *C, int M, int N, int K, int lda, int ldb,    \
                       int ldc, int flags);                                                    \
    /* C[M][N] (+)= A[M][K] * B[N][K]^T (dot products of rows) */                              \
    void ek_matmul_nt_##S(const T *A, const T *B, T *C, int M, int N, int K, int lda, int ldb, \
                          int ldc, int flags);                                                 \
    /* cols[cin*kh*kw][ho*wo] from x (zero padding); col2im: dx = scatter-add of cols */        \
    void ek_im2col_##S(const T *x, T *cols, const ek_conv_params_t *p);                        \
    void ek_col2im_##S(const T *cols, T *dx, const ek_conv_params_t *p);                       \
    void ek_nchw_to_nhwc_##S(const T *x, T *y, int c, int h, int w);                           \
    void ek_nhwc_to_nchw_##S(const T *x, T *y, int c, int h, int w);                           \
    /* conv2d (groups = 1): y[cout][ho*wo]; forward, weight/bias grad, input grad */           \
    size_t ek_conv2d_scratch_bytes_##S(const ek_conv_params_t *p);                             \
    void ek_conv2d_##S(const T *x, const T *w, const T *bias, T *y, T *scratch,                \
                       const ek_conv_params_t *p);                                             \
    void ek_conv2d_bww_##S(const T *x, const T *dy, T *dw, T *db, T *scratch,                  \
                           const ek_conv_params_t *p);                                         \
    void ek_conv2d_bwx_##S(const T *dy, const T *w, T *dx, T *scratch,                         \
                           const ek_conv_params_t *p);                                         \
    /* pointwise (1x1, stride 1, no pad): y[cout][hw] = w[cout][cin] * x[cin][hw] + b */       \
    void ek_pwconv2d_##S(const T *x, const T *w, const T *bias, T *y, int cin, int cout,       \
                         int hw, int act, int flags);                                          \
    /* depthwise */                                                                            \
    size_t ek_dwconv2d_scratch_bytes_##S(const ek_conv_params_t *p);                           \
    void ek_dwconv2d_##S(const T *x, const T *w, const T *bias, T *y, T *scratch,              \
                         const ek_conv_params_t *p);                                           \
    void ek_dwconv2d_bww_##S(const T *x, const T *dy, T *dw, T *db, T *scratch,                \
                             const ek_conv_params_t *p);                                       \
    void ek_dwconv2d_bwx_##S(const T *dy, const T *w, T *dx, T *scratch,                       \
                             const ek_conv_params_t *p);                                       \
    /* linear: y[b][out] = x[b][in] * w[out][in]^T + bias */                                   \
    void ek_linear_##S(const T *x, const T *w, const T *bias, T *y, int batch, int in, int out, \
                       int act, int flags);                                                    \
    void ek_linear_bww_##S(const T *x, const T *dy, T *dw, T *db, int batch, int in, int out,  \
                           int flags);                                                         \
    void ek_linear_bwx_##S(const T *dy, const T *w, T *dx, int batch, int in, int out,         \
                           int flags);                                                         \
    /* pooling (no padding) and its backward (dx is overwritten) */                            \
    void ek_maxpool2d_##S(const T *x, T *y, const ek_pool_params_t *p);                        \
    void ek_avgpool2d_##S(const T *x, T *y, const ek_pool_params_t *p);                        \
    void ek_maxpool2d_bw_##S(const T *x, const T *dy, T *dx, const ek_pool_params_t *p);       \
    void ek_avgpool2d_bw_##S(const T *dy, T *dx, const ek_pool_params_t *p);                   \
    /* activations (in place allowed) and their backward: dx = dy * f'(x) */                   \
    void ek_relu_##S(const T *x, T *y, int n);                                                 \
    void ek_relu6_##S(const T *x, T *y, int n);                                                \
    void ek_hardswish_##S(const T *x, T *y, int n);                                            \
    void ek_relu_bw_##S(const T *x, const T *dy, T *dx, int n);                                \
    void ek_relu6_bw_##S(const T *x, const T *dy, T *dx, int n);                               \
    void ek_hardswish_bw_##S(const T *x, const T *dy, T *dx, int n);                           \
    /* elementwise add (residuals, gradient accumulation), SGD step, overflow check */         \
    void ek_add_##S(const T *a, const T *b, T *y, int n);                                      \
    void ek_sgd_##S(T *w, const T *g, int n, float lr_over_scale);                             \
    int ek_all_finite_##S(const T *g, int n);                                                  \
    /* softmax cross-entropy of one sample: returns the loss, dlogits = scale*(p - onehot) */  \
    float ek_softmax_xent_##S(const T *logits, int label, T *dlogits, int n, float loss_scale);

EK_FLOAT_DECLS(float, f32_ref)
EK_FLOAT_DECLS(float, f32_rvv)
#ifdef __FLT16_MAX__
EK_FLOAT_DECLS(_Float16, f16_ref)
EK_FLOAT_DECLS(_Float16, f16_rvv)
#endif

#ifdef __cplusplus
}
#endif
#endif
