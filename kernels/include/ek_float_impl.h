/* Private to the float kernel sources (ek_*_f32_*.c / ek_*_f16_*.c): picks the element
 * type and the function-name suffix. Each FP16 source defines EK_F16 and includes its
 * FP32 twin, so one body of code serves both dtypes (no drift between them); RVV sources
 * define EK_RVV. */
#ifndef EK_FLOAT_IMPL_H
#define EK_FLOAT_IMPL_H
#include "ek_float.h"

#ifdef EK_F16
typedef _Float16 ek_t;
#define EK_DT f16
#else
typedef float ek_t;
#define EK_DT f32
#endif
#ifdef EK_RVV
#define EK_ISA rvv
#else
#define EK_ISA ref
#endif
#define EK_CAT3_(a, b, c) a##_##b##_##c
#define EK_CAT3(a, b, c) EK_CAT3_(a, b, c)
#define EK_FN(op) EK_CAT3(ek_##op, EK_DT, EK_ISA)

/* expf for freestanding builds: 2^k * poly(r), |r| <= ln2/2, rel. error ~2e-7 */
static inline float ek_expf(float x) {
    if (x < -87.0f) return 0.0f;
    if (x > 88.0f) x = 88.0f;
    float kf = x * 1.44269504f;
    int k = (int)(kf < 0 ? kf - 0.5f : kf + 0.5f);
    float r = x - (float)k * 0.693147182f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
              r * (0.00833333377f + r * 0.00138888892f)))));
    union { float f; int32_t i; } u = {p};
    u.i += k << 23;
    return u.f;
}

static inline float ek_logf(float x) {
    /* x = m * 2^e, m in [1,2): log(m) by atanh series on (m-1)/(m+1) */
    union { float f; int32_t i; } u = {x};
    int e = ((u.i >> 23) & 255) - 127;
    u.i = (u.i & 0x007fffff) | 0x3f800000;
    float t = (u.f - 1.0f) / (u.f + 1.0f), t2 = t * t;
    float s = 2.0f * t * (1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9)))));
    return s + (float)e * 0.693147182f;
}

/* shared by the ref and rvv twins: n is a handful of logits, scalar code is right here */
static inline float ek_softmax_xent_body(const ek_t *logits, int label, ek_t *dlogits, int n,
                                         float loss_scale) {
    float m = (float)logits[0], z = 0.0f;
    for (int i = 1; i < n; i++)
        if ((float)logits[i] > m) m = (float)logits[i];
    for (int i = 0; i < n; i++) z += ek_expf((float)logits[i] - m);
    for (int i = 0; i < n; i++) {
        float pr = ek_expf((float)logits[i] - m) / z;
        dlogits[i] = (ek_t)(loss_scale * (pr - (i == label ? 1.0f : 0.0f)));
    }
    return ek_logf(z) + m - (float)logits[label];
}

#ifdef EK_RVV
#include <riscv_vector.h>
/* Type-specific RVV intrinsics; everything else uses the overloaded forms.
 * LMUL 8 ("V8"), 4 ("V4") and 1 ("V1") of the element type. */
#ifdef EK_F16
typedef vfloat16m8_t ek_v8;
typedef vfloat16m4_t ek_v4;
typedef vfloat16m1_t ek_v1;
#define EK_VSETVL8 __riscv_vsetvl_e16m8
#define EK_VSETVL4 __riscv_vsetvl_e16m4
#define EK_VLE8 __riscv_vle16_v_f16m8
#define EK_VLE4 __riscv_vle16_v_f16m4
#define EK_VLSE8 __riscv_vlse16_v_f16m8
#define EK_VSPLAT8 __riscv_vfmv_v_f_f16m8
#define EK_VSPLAT4 __riscv_vfmv_v_f_f16m4
#define EK_VSPLAT1 __riscv_vfmv_v_f_f16m1
#define EK_VSE __riscv_vse16
#define EK_VSSE __riscv_vsse16
#else
typedef vfloat32m8_t ek_v8;
typedef vfloat32m4_t ek_v4;
typedef vfloat32m1_t ek_v1;
#define EK_VSETVL8 __riscv_vsetvl_e32m8
#define EK_VSETVL4 __riscv_vsetvl_e32m4
#define EK_VLE8 __riscv_vle32_v_f32m8
#define EK_VLE4 __riscv_vle32_v_f32m4
#define EK_VLSE8 __riscv_vlse32_v_f32m8
#define EK_VSPLAT8 __riscv_vfmv_v_f_f32m8
#define EK_VSPLAT4 __riscv_vfmv_v_f_f32m4
#define EK_VSPLAT1 __riscv_vfmv_v_f_f32m1
#define EK_VSE __riscv_vse32
#define EK_VSSE __riscv_vsse32
#endif
#endif /* EK_RVV */
#endif
