/* Kernel checker / benchmark firmware.  Reads test cases from the host file "cases.bin"
 * through semihosting (fast, any size), runs each with the variant compiled in
 * (ek_kc_dispatch.c), and writes "results.bin": per case [u32 index][u64 instructions]
 * [output bytes].  The host compares the outputs bit for bit with the Python integer
 * reference.  Record layout (all little-endian u32, buffers 16-byte aligned in the
 * record): total_bytes, op, n_params, n_bufs, out_bytes, then params[n_params],
 * buf_bytes[n_bufs], then padding to 16, then each buffer padded to 16 bytes. */
#include "ek_kc_dispatch.h"
#include "ek_platform.h"

#ifndef EK_KC_ARENA_BYTES
#define EK_KC_ARENA_BYTES (200u * 1024u)
#endif
#define MAX_BUFS 8

static uint8_t g_arena[EK_KC_ARENA_BYTES] __attribute__((aligned(16)));

static int fail(const char *what, int code) {
    ek_uart_puts("kernelcheck: ");
    ek_uart_puts(what);
    ek_uart_puts("\n");
    return code;
}

int main(void) {
    int32_t in = ek_sh_open("cases.bin", EK_SH_READ_BINARY);
    if (in < 0) return fail("cannot open cases.bin", 2);
    int32_t res = ek_sh_open("results.bin", EK_SH_WRITE_BINARY);
    if (res < 0) return fail("cannot open results.bin", 2);
    uint32_t index = 0;
    for (;; index++) {
        uint32_t head[5];
        int32_t got = ek_sh_read(in, head, sizeof head);
        if (got == 0) break;
        if (got != (int32_t)sizeof head) return fail("truncated case header", 3);
        const uint32_t total = head[0], op = head[1], n_params = head[2], n_bufs = head[3];
        const uint32_t out_bytes = head[4];
        if (n_bufs > MAX_BUFS || total < sizeof head) return fail("bad case header", 3);
        uint8_t *rec = g_arena;
        const uint32_t body = total - (uint32_t)sizeof head;
        uint32_t used = (uint32_t)sizeof head + body;
        if (used + out_bytes + 64 > EK_KC_ARENA_BYTES) return fail("case larger than the arena", 4);
        for (int i = 0; i < 5; i++) ((uint32_t *)rec)[i] = head[i];
        if (ek_sh_read(in, rec + sizeof head, body) != (int32_t)body) return fail("truncated case", 3);
        const int32_t *params = (const int32_t *)(rec + sizeof head);
        const uint32_t *buf_bytes = (const uint32_t *)(params + n_params);
        uint32_t off = (uint32_t)(sizeof head + 4 * (n_params + n_bufs) + 15) & ~15u;
        void *bufs[MAX_BUFS];
        for (uint32_t b = 0; b < n_bufs; b++) {
            bufs[b] = buf_bytes[b] ? (void *)(rec + off) : (void *)0;
            off += (buf_bytes[b] + 15u) & ~15u;
        }
        uint32_t out_off = (used + 15u) & ~15u;
        uint8_t *out = g_arena + out_off;
        uint32_t scratch_off = (out_off + out_bytes + 15u) & ~15u;
        uint32_t scratch_bytes = ek_kc_scratch_bytes(op, params);
        if (scratch_off + scratch_bytes > EK_KC_ARENA_BYTES) return fail("scratch larger than the arena", 4);
        void *scratch = scratch_bytes ? (void *)(g_arena + scratch_off) : (void *)0;
        for (uint32_t i = 0; i < out_bytes; i++) out[i] = 0xA5;  /* catch unwritten outputs */

        ek_clock_start();
        int rc = ek_kc_run(op, params, bufs, out, scratch);
        uint64_t instr = ek_clock_instructions();
        if (rc != 0) return fail("unknown op", 5);

        uint32_t tail[3] = {index, (uint32_t)instr, (uint32_t)(instr >> 32)};
        if (ek_sh_write(res, tail, sizeof tail) != (int32_t)sizeof tail ||
            ek_sh_write(res, out, out_bytes) != (int32_t)out_bytes)
            return fail("cannot write results.bin", 6);
    }
    ek_sh_close(res);
    ek_sh_close(in);
    ek_uart_puts("kernelcheck: ");
    ek_uart_put_u32(index);
    ek_uart_puts(" cases done\n");
    return 0;
}
