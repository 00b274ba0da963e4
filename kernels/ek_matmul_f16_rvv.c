/* FP16 twin of ek_matmul_f32_rvv.c: the same source compiled with _Float16 elements. */
#define EK_F16 1
#include "ek_matmul_f32_rvv.c"
