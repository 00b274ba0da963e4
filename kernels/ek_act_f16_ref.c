/* FP16 twin of ek_act_f32_ref.c: the same source compiled with _Float16 elements. */
#define EK_F16 1
#include "ek_act_f32_ref.c"
