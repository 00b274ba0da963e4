/* Shared helpers of every edgesdk C kernel: the requantization that all integer kernels
 * match bit for bit (docs/integer-ops.md, edgesdk.quant.fixedpoint), clamping and
 * attributes.  Header-only; no allocation, no libc beyond <stdint.h>/<stddef.h>.
 */
#ifndef EK_COMMON_H
#define EK_COMMON_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* noipa: the benchmark must count the kernel as called, not inlined/cloned into the
 * caller with constants propagated (that would flatter the instruction counts). */
#define EK_NOIPA __attribute__((noipa))
#else
#define EK_NOIPA __attribute__((noinline))
#endif

#define EK_RESTRICT __restrict__
#define EK_INLINE static inline __attribute__((always_inline))

/* Single rounding, round half up, in 64 bit: out = (acc*mult + 2^(t-1)) >> t, t = 31-shift.
 * mult == 0 (a dead channel) gives 0 whatever the shift. */
EK_INLINE int32_t ek_requant(int32_t acc, int32_t mult, int32_t shift) {
    int32_t total = 31 - shift;
    int64_t v = (int64_t)acc * mult + ((int64_t)1 << (total - 1));
    return (int32_t)(v >> total);
}

EK_INLINE int32_t ek_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The full int8 output stage: requant + output zero point + clamp (fused relu/relu6). */
EK_INLINE int8_t ek_output_stage(int32_t acc, int32_t mult, int32_t shift,
                                 int32_t out_offset, int32_t act_min, int32_t act_max) {
    return (int8_t)ek_clamp(ek_requant(acc, mult, shift) + out_offset, act_min, act_max);
}

/* Round a byte count up to a multiple of 16 (scratch buffers are handed out 16-aligned). */
#define EK_ALIGN16(n) (((size_t)(n) + 15u) & ~(size_t)15u)

#ifdef __cplusplus
}
#endif
#endif
