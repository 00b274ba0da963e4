/* Private: 32-bit popcount for cores without a popcount instruction (Cortex-M has
 * none): the SWAR bit-slice sum, 12 instructions, no table. */
#ifndef EK_POPCOUNT_H
#define EK_POPCOUNT_H
#include "ek_common.h"
EK_INLINE int32_t ek_popcount32_swar(uint32_t v) {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((v * 0x01010101u) >> 24);
}
#endif
