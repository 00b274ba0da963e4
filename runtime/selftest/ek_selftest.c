/* Self-test firmware: runs the generated model once on an input compiled into the
 * image, then reports over the UART and exits through semihosting.
 *
 * The build uses it to measure instructions per inference (total and per layer, under
 * QEMU -icount) and to check the device's output against the reference before the
 * user ever flashes the real firmware. Output lines (parsed by edgesdk.pipeline):
 *   EK_INSTR <instructions of ek_model_run>
 *   EK_LAYER <index> <instructions>
 *   EK_OUT <output index> <hex bytes>
 *   EK_DONE
 */
#include <stdint.h>
#include "ek_model_api.h"
#include "ek_platform.h"

extern const uint8_t ek_selftest_input[];
extern const uint32_t ek_selftest_input_bytes;

static void put_hex(const uint8_t *p, uint32_t n) {
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < n; i++) {
        ek_uart_putc((uint8_t)digits[p[i] >> 4]);
        ek_uart_putc((uint8_t)digits[p[i] & 15]);
    }
}

int main(void) {
    const ek_model_info_t *info = ek_model_info();
    uint8_t *in = ek_model_input(0);
    uint32_t n = ek_model_input_bytes(0);
    if (n != ek_selftest_input_bytes) {
        ek_uart_puts("EK_ERROR input size mismatch\n");
        ek_exit(3);
    }
    for (uint32_t i = 0; i < n; i++) in[i] = ek_selftest_input[i];

    ek_clock_start();
    uint64_t t0 = ek_clock_instructions();
    int rc = ek_model_run();
    uint64_t t1 = ek_clock_instructions();
    if (rc != 0) {
        ek_uart_puts("EK_ERROR model run failed\n");
        ek_exit(4);
    }
    ek_uart_puts("EK_INSTR ");
    ek_uart_put_u64(t1 - t0);
    ek_uart_puts("\n");
    const uint32_t *layers = ek_model_layer_counts();
    for (uint32_t i = 0; layers && i < info->n_layers; i++) {
        ek_uart_puts("EK_LAYER ");
        ek_uart_put_u32(i);
        ek_uart_puts(" ");
        ek_uart_put_u32(layers[i]);
        ek_uart_puts("\n");
    }
    for (uint32_t o = 0; o < info->n_outputs; o++) {
        ek_uart_puts("EK_OUT ");
        ek_uart_put_u32(o);
        ek_uart_puts(" ");
        put_hex(ek_model_output(o), ek_model_output_bytes(o));
        ek_uart_puts("\n");
    }
    ek_uart_puts("EK_DONE\n");
    ek_exit(0);
}
