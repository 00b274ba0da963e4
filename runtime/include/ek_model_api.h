/* The contract between generated model code (codegen) and everything that drives it
 * on the device: the host-in-the-loop firmware (runtime/hil), benchmarks, and the
 * on-device training runtime (runtime/train).
 *
 * Generated code (model.c) defines every function below. It owns a static arena; the
 * input and output buffers live inside it. Nothing here allocates.
 */
#ifndef EK_MODEL_API_H
#define EK_MODEL_API_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *build_id;      /* unique per build: model hash + options */
    uint32_t model_hash;       /* CRC32 of the lowered graph file (model.edg) */
    uint32_t arena_bytes;      /* static activation arena */
    uint32_t weight_bytes;     /* constants in flash */
    uint32_t n_inputs;
    uint32_t n_outputs;
    uint32_t n_layers;
} ek_model_info_t;

const ek_model_info_t *ek_model_info(void);

/* Byte buffers of the model's inputs/outputs, in the dtype and layout recorded in the
 * build manifest (manifest.json: inputs[i].dtype/shape/layout). */
uint8_t *ek_model_input(uint32_t i);
uint32_t ek_model_input_bytes(uint32_t i);
const uint8_t *ek_model_output(uint32_t i);
uint32_t ek_model_output_bytes(uint32_t i);

/* Runs the whole graph. Returns 0 on success. */
int ek_model_run(void);

/* Per-layer timing: if a platform clock is present, ek_model_run records the
 * instructions (or cycles) each layer took; ek_model_layer_counts returns n_layers
 * entries from the last run. Returns NULL when not compiled with EK_LAYER_TIMING. */
const uint32_t *ek_model_layer_counts(void);

#ifdef __cplusplus
}
#endif
#endif
