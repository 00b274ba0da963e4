/* A hand-written model for testing the rig: y = clamp(3x + 1) over int8, elementwise.
 *
 * It implements ek_model_api.h like generated code does, with arithmetic the host can
 * check exactly: it equals a 1x1 QConv with weight 3, bias 1 and a requantization
 * multiplier of exactly 1.0 (edgesdk.hil.testbuild writes that graph as model.edg, so
 * `edgesdk validate` compares it with the reference interpreter).
 *
 * Layer 0 computes y; layer 1 spins EK_AFFINE_SPIN iterations of busy work, so fault
 * tests can build a model whose run lasts long enough to be interrupted. */
#include <stdint.h>

#include "ek_hil.h"
#include "ek_model_api.h"

#ifndef EK_AFFINE_N
#define EK_AFFINE_N 2000
#endif
#ifndef EK_AFFINE_SPIN
#define EK_AFFINE_SPIN 0
#endif
#ifndef EK_AFFINE_HASH
#define EK_AFFINE_HASH 0u
#endif
#ifndef EK_AFFINE_BUILD_ID
#define EK_AFFINE_BUILD_ID "hil-affine-test"
#endif

static int8_t x_buf[EK_AFFINE_N];
static int8_t y_buf[EK_AFFINE_N];
static uint32_t layer_counts[2];
volatile uint32_t ek_affine_spin_sink; /* keeps the busy loop from being optimised away */
static const uint32_t spin_iterations = EK_AFFINE_SPIN;

static const ek_model_info_t info = {
    EK_AFFINE_BUILD_ID, EK_AFFINE_HASH, 2u * EK_AFFINE_N, 2u, 1u, 1u, 2u,
};

const ek_model_info_t *ek_model_info(void) { return &info; }
uint8_t *ek_model_input(uint32_t i) { return i == 0 ? (uint8_t *)x_buf : 0; }
uint32_t ek_model_input_bytes(uint32_t i) { return i == 0 ? EK_AFFINE_N : 0; }
const uint8_t *ek_model_output(uint32_t i) { return i == 0 ? (const uint8_t *)y_buf : 0; }
uint32_t ek_model_output_bytes(uint32_t i) { return i == 0 ? EK_AFFINE_N : 0; }
const uint32_t *ek_model_layer_counts(void) { return layer_counts; }

int ek_model_run(void)
{
    uint64_t t0 = ek_hil_counter();
    for (uint32_t i = 0; i < EK_AFFINE_N; i++) {
        int32_t v = 3 * (int32_t)x_buf[i] + 1;
        y_buf[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
    }
    uint64_t t1 = ek_hil_counter();
    for (uint32_t i = 0; i < spin_iterations; i++)
        ek_affine_spin_sink += i;
    uint64_t t2 = ek_hil_counter();
    layer_counts[0] = (uint32_t)(t1 - t0);
    layer_counts[1] = (uint32_t)(t2 - t1);
    return 0;
}
