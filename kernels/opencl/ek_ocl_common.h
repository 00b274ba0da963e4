/* Shared helpers of the edgesdk OpenCL kernels.
 *
 * ek_requant is edgesdk.quant.fixedpoint's single-rounding requantization (round half
 * up, 64-bit), written exactly as in docs/integer-ops.md so every kernel is bit-exact
 * with the numpy reference. The constants (multiplier, shift) come from the host.
 */
#ifndef EK_OCL_COMMON_H
#define EK_OCL_COMMON_H

inline int ek_requant(int acc, int mult, int shift) {
    int total = 31 - shift;
    long v = (long)acc * (long)mult + ((long)1 << (total - 1));
    return (int)(v >> total);
}

/* requant + output zero point + clamp (fused ReLU/ReLU6 are tighter clamp bounds). */
inline char ek_output_stage(int acc, int mult, int shift, int y_zp, int act_min, int act_max) {
    int v = ek_requant(acc, mult, shift) + y_zp;
    return (char)clamp(v, act_min, act_max);
}

#endif
