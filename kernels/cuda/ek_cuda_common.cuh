/* Shared helpers of the edgesdk CUDA kernels.
 *
 * ek_requant is edgesdk.quant.fixedpoint's single-rounding requantization (round half
 * up, 64-bit), exactly as in docs/integer-ops.md; the constants come from the host.
 */
#ifndef EK_CUDA_COMMON_CUH
#define EK_CUDA_COMMON_CUH
#include <stdint.h>

__host__ __device__ __forceinline__ int32_t ek_requant(int32_t acc, int32_t mult, int32_t shift) {
    int32_t total = 31 - shift;
    int64_t v = (int64_t)acc * mult + ((int64_t)1 << (total - 1));
    return (int32_t)(v >> total);
}

__host__ __device__ __forceinline__ int8_t ek_output_stage(int32_t acc, int32_t mult, int32_t shift,
                                                  int32_t y_zp, int32_t act_min, int32_t act_max) {
    int32_t v = ek_requant(acc, mult, shift) + y_zp;
    return (int8_t)(v < act_min ? act_min : v > act_max ? act_max : v);   /* host-callable too */
}

#endif
