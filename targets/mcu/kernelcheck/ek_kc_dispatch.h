/* Op ids of the kernel checker (must match edgesdk.kernelcheck.OPS). */
#ifndef EK_KC_DISPATCH_H
#define EK_KC_DISPATCH_H
#include <stdint.h>
enum {
    EK_KC_CONV2D = 0, EK_KC_CONV1X1 = 1, EK_KC_DWCONV2D = 2, EK_KC_FC = 3, EK_KC_FC_SPARSE = 4,
    EK_KC_AVGPOOL = 5, EK_KC_MAXPOOL = 6, EK_KC_ADD = 7, EK_KC_SOFTMAX = 8, EK_KC_BCONV2D = 9,
    EK_KC_BFC = 10, EK_KC_CONV2D_S4 = 11, EK_KC_CONV1X1_S4 = 12, EK_KC_FC_S4 = 13,
};
/* Returns 0, or -1 for an unknown op.  bufs: the kernel's pointer arguments in order. */
int ek_kc_run(uint32_t op, const int32_t *params, void *const *bufs, void *out, void *scratch);
uint32_t ek_kc_scratch_bytes(uint32_t op, const int32_t *params);
#endif
