/* 4-bit weight kernels for Cortex-M (and the portable reference): int8 activations,
 * weights in [-8, 7] packed two per byte.  The arithmetic is exactly the int8 kernels'
 * (ek_s8.h, docs/integer-ops.md) with the unpacked weights: same params structs, same
 * requantization, same layouts, so a 4-bit layer is an int8 layer whose weight array is
 * half the flash.  2-bit weights ([-2, 1]) ship in this format too.
 *
 * Packing: the weight tensor in its int8 layout (conv OHWI [out_c][k_h][k_w][in_c], FC
 * [out_features][in_features]) seen as rows of K values per output channel
 * (K = k_h * k_w * in_c, or in_features); each row is packed on its own into
 * EK_S4_ROW_BYTES(K) = ceil(K / 2) bytes, value k in byte k / 2, low nibble first
 * (two's complement nibbles), the last byte's high nibble 0 when K is odd.  So the
 * rows of a layer are ceil(K / 2) bytes apart and need no alignment.
 * edgesdk.lower.mcu.pack_s4 is the Python twin.
 *
 * Variants (identical signatures): _ref (portable, direct loops), _dsp (Cortex-M4/M7/
 * M33/M55 SMLAD: a word of 8 weights is unpacked with 2 AND + 4 SXTB16 into 16x int16
 * pairs), _mve (Cortex-M55 Helium: 32 weights per 16-byte load, VSHL/VSHR unpack and
 * VLD2 de-interleaved columns into VMLADAVA).
 * Memory: kernels never allocate; `scratch` needs ek_<op>_s4_scratch_bytes bytes,
 * 16-byte aligned (covers every variant). */
#ifndef EK_S4_H
#define EK_S4_H
#include "ek_s8.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EK_S4_ROW_BYTES(k) (((size_t)(k) + 1u) >> 1)

#define EK_S4_CONV_ARGS const ek_conv_s8_params_t *p, const int8_t *input, const uint8_t *weights, \
    const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output

#define EK_S4_DECLARE(isa)                                                                        \
    void ek_conv2d_s4_##isa(EK_S4_CONV_ARGS, void *scratch);                                      \
    void ek_conv1x1_s4_##isa(EK_S4_CONV_ARGS, void *scratch);                                     \
    void ek_fc_s4_##isa(const ek_fc_s8_params_t *p, const int8_t *input, const uint8_t *weights,  \
                        const int32_t *bias, const int32_t *multiplier, const int32_t *shift,     \
                        int8_t *output, void *scratch);

/* ek_conv2d_s4_*: general convolution (groups = 1), any kernel/stride/padding/dilation.
 * ek_conv1x1_s4_*: k_h = k_w = 1, no padding, any stride.
 * ek_fc_s4_*: fully connected; batch rows are independent. */
EK_S4_DECLARE(ref)
EK_S4_DECLARE(dsp)
EK_S4_DECLARE(mve)

/* The signed value of weight k of a packed row. */
static inline int32_t ek_s4_get(const uint8_t *row, int32_t k) {
    const int32_t b = row[k >> 1];
    const int32_t nib = (k & 1) ? (b >> 4) : (b & 15);
    return nib - ((nib & 8) << 1);
}

/* Scratch: _dsp holds 4 int16 columns of K rounded up to 8 (+ one int8 im2col column
 * for conv2d), _mve 4 int8 columns of K rounded up to 32 (VLD2 reads whole 32s). */
static inline size_t ek_s4_cols_bytes(size_t k) {
    size_t dsp = 4 * ((k + 7) & ~(size_t)7) * sizeof(int16_t);
    size_t mve = 4 * ((k + 31) & ~(size_t)31);
    return EK_ALIGN16(dsp > mve ? dsp : mve);
}
static inline size_t ek_conv2d_s4_scratch_bytes(const ek_conv_s8_params_t *p) {
    size_t k = (size_t)p->k_h * p->k_w * p->in_c;
    size_t dsp = 4 * ((k + 7) & ~(size_t)7) * sizeof(int16_t) + EK_ALIGN16(k);
    size_t all = ek_s4_cols_bytes(k);
    return EK_ALIGN16(dsp > all ? dsp : all);
}
static inline size_t ek_conv1x1_s4_scratch_bytes(const ek_conv_s8_params_t *p) {
    return ek_s4_cols_bytes((size_t)p->in_c);
}
static inline size_t ek_fc_s4_scratch_bytes(const ek_fc_s8_params_t *p) {
    return ek_s4_cols_bytes((size_t)p->in_features);
}

#ifdef __cplusplus
}
#endif
#endif
