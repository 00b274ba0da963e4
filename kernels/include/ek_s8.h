/* int8 kernels for Cortex-M (and the portable reference): the C API the model code
 * generator calls.  Exact arithmetic: docs/integer-ops.md; requantization:
 * ek_requant (ek_common.h) == edgesdk.quant.fixedpoint.  Every variant is bit-exact
 * with its _ref twin.
 *
 * Variants (identical signatures; pick by the board's `isa` list):
 *   _ref  portable C, any core (also the host)          kernels/ek_<op>_s8_ref.c
 *   _dsp  Cortex-M4/M7/M33/M55 DSP extension (SMLAD)     kernels/ek_<op>_s8_dsp.c
 *   _mve  Cortex-M55/M85 Helium (MVE-I)                  kernels/ek_<op>_s8_mve.c
 *
 * Layouts: activations NHWC (batch 1 per call; loop over the batch outside), conv
 * weights OHWI [out_c][k_h][k_w][in_c], depthwise weights [k_h][k_w][C] (1HWC),
 * FC weights [out_features][in_features] (QGemm's transB layout).
 * Quantization: input_offset = -x_zp, output_offset = y_zp, per-output-channel
 * int32 multiplier/shift arrays, int32 bias (may be NULL = 0), clamp to
 * [act_min, act_max] (fused relu/relu6 are just tighter bounds).
 *
 * Memory: kernels never allocate.  Kernels with a `scratch` argument need at least
 * ek_<op>_s8_scratch_bytes(...) bytes there, 16-byte aligned (the size covers every
 * variant, so a build can switch variants without re-planning memory).  Scratch may
 * be NULL when that function returns 0.  Inputs and outputs must not overlap, except
 * ek_add_s8_* which allows out == a or out == b.
 * Alignment: int8 buffers may have any alignment; int32 arrays (bias, multiplier, shift)
 * their natural 4 bytes; scratch 16 bytes.  Unaligned 32-bit loads are used on int8 data,
 * so CCR.UNALIGN_TRP must stay clear (the reset default).
 */
#ifndef EK_S8_H
#define EK_S8_H
#include "ek_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Geometry + quantization of a 2D convolution (general, 1x1 and depthwise).
 * out_h/out_w are given by the caller (bottom/right padding is implied by them);
 * pad_top/pad_left are the top/left padding, filled with the input zero point. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t dil_h, dil_w;
    int32_t input_offset;   /* -x_zp, in [-127, 128] */
    int32_t output_offset;  /* y_zp */
    int32_t act_min, act_max;
} ek_conv_s8_params_t;

/* Fully connected (QGemm): y[b][m] = out_stage(bias[m] + sum_k (x[b][k] + input_offset) * w[m][k]). */
typedef struct {
    int32_t batch, in_features, out_features;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
} ek_fc_s8_params_t;

/* Average / max pooling, NHWC, channels unchanged.  Average: padded taps contribute 0
 * (x_zp padding, count_include_pad) and the window size is folded into multiplier/shift
 * (M = x_scale / (y_scale * k_h * k_w)).  Max: padding never wins; multiplier, shift and
 * the offsets are ignored, the result is clamped to [act_min, act_max]. */
typedef struct {
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t input_offset, output_offset;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} ek_pool_s8_params_t;

/* Elementwise add with requantization (QAdd): a' = requant((a + a_offset) << left_shift,
 * a_multiplier, a_shift); b' likewise; y = clamp(requant(a' + b', out_multiplier,
 * out_shift) + output_offset).  left_shift is 20 (edgesdk.reference.quantized). */
typedef struct {
    int32_t a_offset, a_multiplier, a_shift;   /* a_offset = -a_zp */
    int32_t b_offset, b_multiplier, b_shift;   /* b_offset = -b_zp */
    int32_t out_multiplier, out_shift, output_offset;
    int32_t left_shift;
    int32_t act_min, act_max;
} ek_add_s8_params_t;

#define EK_S8_CONV_ARGS const ek_conv_s8_params_t *p, const int8_t *input, const int8_t *weights, \
    const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output

/* All kernels of one variant.  The op's contract is documented once, below. */
#define EK_S8_DECLARE(isa)                                                                        \
    void ek_conv2d_s8_##isa(EK_S8_CONV_ARGS, void *scratch);                                      \
    void ek_conv1x1_s8_##isa(EK_S8_CONV_ARGS, void *scratch);                                     \
    void ek_dwconv2d_s8_##isa(EK_S8_CONV_ARGS);                                                   \
    void ek_fc_s8_##isa(const ek_fc_s8_params_t *p, const int8_t *input, const int8_t *weights,   \
                        const int32_t *bias, const int32_t *multiplier, const int32_t *shift,     \
                        int8_t *output, void *scratch);                                           \
    void ek_fc_sparse_s8_##isa(const ek_fc_s8_params_t *p, const int8_t *input,                   \
                               const uint16_t *row_ptr, const uint16_t *col_idx,                  \
                               const int8_t *values, const int32_t *bias,                         \
                               const int32_t *multiplier, const int32_t *shift, int8_t *output);  \
    void ek_avgpool_s8_##isa(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output);  \
    void ek_maxpool_s8_##isa(const ek_pool_s8_params_t *p, const int8_t *input, int8_t *output);  \
    void ek_add_s8_##isa(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,           \
                         int8_t *output, int32_t n);                                              \
    void ek_softmax_s8_##isa(const int8_t *input, int32_t rows, int32_t row_len,                  \
                             const uint32_t *table, int8_t *output);

/* ek_conv2d_s8_*: general convolution (groups = 1), any kernel/stride/padding/dilation.
 *   Implementations: im2col into `scratch` + a tiled int8 matmul.
 * ek_conv1x1_s8_*: fast path for k_h = k_w = 1, pad_top = pad_left = 0 (any stride).
 * ek_dwconv2d_s8_*: depthwise, depth multiplier 1 (in_c == out_c), weights [k_h][k_w][C].
 * ek_fc_s8_*: fully connected; batch rows are independent.
 * ek_fc_sparse_s8_*: fully connected with weights in 1x4 blocks, CSR over blocks:
 *   row_ptr[out_features + 1], col_idx[nblocks] (block column = k / 4), values[nblocks * 4].
 *   Same arithmetic as ek_fc_s8 with the missing blocks = 0 (in_features % 4 == 0).
 * ek_avgpool_s8_* / ek_maxpool_s8_*: see ek_pool_s8_params_t.
 * ek_add_s8_*: n elements, same shape (broadcasting is the caller's loop).
 * ek_softmax_s8_*: QSoftmax over rows of row_len (1..65535) with the host's 256-entry
 *   table[d] = round(exp(-d * x_scale) * 2^16); output scale 1/256, zero point -128. */
EK_S8_DECLARE(ref)
EK_S8_DECLARE(dsp)
EK_S8_DECLARE(mve)

/* Scratch sizes (bytes, a multiple of 16) that cover every variant. */
static inline size_t ek_conv2d_s8_scratch_bytes(const ek_conv_s8_params_t *p) {
    size_t k = (size_t)p->k_h * p->k_w * p->in_c;
    size_t dsp = 6 * (k + 4) * sizeof(int16_t);                 /* 6 int16 columns */
    size_t mve = 4 * EK_ALIGN16(k);                                /* 4 int8 columns  */
    return EK_ALIGN16(dsp > mve ? dsp : mve);
}
static inline size_t ek_conv1x1_s8_scratch_bytes(const ek_conv_s8_params_t *p) {
    return EK_ALIGN16(6 * ((size_t)p->in_c + 4) * sizeof(int16_t));
}
static inline size_t ek_fc_s8_scratch_bytes(const ek_fc_s8_params_t *p) {
    return EK_ALIGN16((((size_t)p->in_features + 1) & ~(size_t)1) * sizeof(int16_t));
}

#ifdef __cplusplus
}
#endif
#endif
