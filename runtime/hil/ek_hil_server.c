/* The rig's request/reply server: frame reassembly (COBS), checks, a one-entry reply
 * cache and the command handlers. Static buffers only. */
#if defined(__has_include)
#if __has_include(<string.h>)
#include <string.h>
#define EK_HIL_HAVE_STRING_H 1
#endif
#endif
#ifndef EK_HIL_HAVE_STRING_H
/* a bare-metal toolchain without a libc (clang for riscv32-unknown-elf): the platform
 * layer defines these (targets/riscv/platform.c, runtime/hil/ek_hil_port_riscv.c) */
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
size_t strlen(const char *s);
#endif

#include "ek_hil.h"
#include "ek_model_api.h"

/* ---- state --------------------------------------------------------------------- */

static uint8_t rx[EK_HIL_MAX_FRAME];
static size_t rx_len;
static uint8_t rx_code;       /* code byte of the current COBS block (0: none yet) */
static uint8_t rx_left;       /* data bytes still to come in this block */
static uint8_t rx_overflow;

/* The last reply, kept whole: a request that repeats the last one (same sequence
 * number and CRC, i.e. the host retried because the reply got lost) is answered from
 * here without running anything again. */
static uint8_t tx[EK_HIL_MAX_FRAME];
static size_t tx_len;
static int cache_valid;
static uint16_t cache_seq;
static uint32_t cache_req_crc;

/* Zero after boot; the host's HELLO sets it. Any other command finding it zero means the
 * device rebooted under the host, which must then start over. */
static uint32_t session_token;

static uint64_t last_run_count;
static int have_run;

/* ---- little-endian helpers ------------------------------------------------------- */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void send_frame(const uint8_t *frame, size_t n)
{
    ek_hil_cobs_send(frame, n);
    ek_hil_flush();
}

/* Fills in header and CRC of the reply whose payload handlers wrote at tx + header. */
static void finish_reply(uint8_t type, uint8_t status, uint16_t seq, uint32_t len)
{
    tx[0] = (uint8_t)(type | EK_HIL_REPLY);
    tx[1] = status;
    put16(tx + 2, seq);
    put16(tx + 4, len);
    put32(tx + EK_HIL_HEADER_BYTES + len, ek_hil_crc32(0, tx, EK_HIL_HEADER_BYTES + len));
    tx_len = EK_HIL_HEADER_BYTES + len + EK_HIL_CRC_BYTES;
}

/* A bare header frame (NAK, ACK): built apart so the reply cache stays intact. */
static void send_bare(uint8_t type, uint8_t status, uint16_t seq)
{
    uint8_t f[EK_HIL_HEADER_BYTES + EK_HIL_CRC_BYTES];
    f[0] = type;
    f[1] = status;
    put16(f + 2, seq);
    put16(f + 4, 0);
    put32(f + EK_HIL_HEADER_BYTES, ek_hil_crc32(0, f, EK_HIL_HEADER_BYTES));
    send_frame(f, sizeof f);
}

static void send_nak(uint16_t seq) { send_bare(EK_HIL_NAK, EK_HIL_E_BAD_FRAME, seq); }

/* ---- handlers: each writes its payload at `out` and returns the status ------------- */

static uint32_t info_block(uint8_t *out, uint32_t cap, uint32_t *len)
{
    const ek_model_info_t *mi = ek_model_info();
    const char *id = mi->build_id ? mi->build_id : "";
    uint32_t id_len = (uint32_t)strlen(id);
    uint32_t n = 36u + 4u * (mi->n_inputs + mi->n_outputs);
    uint32_t caps = 0;
    if (id_len > 255u)
        id_len = 255u;
    if (n + id_len > cap)
        return EK_HIL_E_TOO_LARGE;
    if (ek_train_step && ek_train_weight_bytes && ek_train_get_weights && ek_train_set_weights)
        caps |= EK_HIL_CAP_TRAIN;
    if (ek_model_layer_counts() != NULL)
        caps |= EK_HIL_CAP_LAYER_TIMING;
    if (ek_hil_counter_unit() != EK_HIL_UNIT_NONE)
        caps |= EK_HIL_CAP_COUNTER;
    if (ek_hil_file_read && ek_hil_file_write)
        caps |= EK_HIL_CAP_FILES;
    put16(out + 0, EK_HIL_PROTO_VERSION);
    put16(out + 2, EK_HIL_MAX_PAYLOAD);
    put32(out + 4, mi->model_hash);
    put32(out + 8, mi->arena_bytes);
    put32(out + 12, mi->weight_bytes);
    put32(out + 16, mi->n_inputs);
    put32(out + 20, mi->n_outputs);
    put32(out + 24, mi->n_layers);
    put32(out + 28, caps);
    out[32] = ek_hil_counter_unit();
    out[33] = (uint8_t)id_len;
    out[34] = 0;
    out[35] = 0;
    uint8_t *p = out + 36;
    for (uint32_t i = 0; i < mi->n_inputs; i++, p += 4)
        put32(p, ek_model_input_bytes(i));
    for (uint32_t i = 0; i < mi->n_outputs; i++, p += 4)
        put32(p, ek_model_output_bytes(i));
    memcpy(p, id, id_len);
    *len = n + id_len;
    return EK_HIL_OK;
}

static uint32_t do_hello(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    if (in_len != 4 || get32(in) == 0)
        return EK_HIL_E_BAD_ARGS;
    put32(out, session_token);
    put32(out + 4, ek_hil_boot_count());
    uint32_t n = 0;
    uint32_t st = info_block(out + 8, EK_HIL_MAX_PAYLOAD - 8, &n);
    if (st != EK_HIL_OK)
        return st;
    session_token = get32(in);
    *len = 8 + n;
    return EK_HIL_OK;
}

static uint32_t do_set_input(const uint8_t *in, uint32_t in_len)
{
    if (in_len < 8)
        return EK_HIL_E_BAD_ARGS;
    uint32_t idx = in[0], off = get32(in + 4), n = in_len - 8;
    if (idx >= ek_model_info()->n_inputs)
        return EK_HIL_E_OUT_OF_RANGE;
    uint32_t size = ek_model_input_bytes(idx);
    if (off > size || n > size - off)
        return EK_HIL_E_OUT_OF_RANGE;
    memcpy(ek_model_input(idx) + off, in + 8, n);
    return EK_HIL_OK;
}

/* Copies the path that ends a LOAD_INPUT/SAVE_OUTPUT request into a C string. */
static int take_path(const uint8_t *in, uint32_t in_len, uint32_t at, char *path, uint32_t cap)
{
    if (in_len <= at || in_len - at >= cap)
        return 0;
    memcpy(path, in + at, in_len - at);
    path[in_len - at] = 0;
    return 1;
}

static uint32_t do_load_input(const uint8_t *in, uint32_t in_len)
{
    static char path[EK_HIL_MAX_PAYLOAD];
    if (!ek_hil_file_read)
        return EK_HIL_E_UNSUPPORTED;
    if (in_len < 9 || !take_path(in, in_len, 8, path, sizeof path))
        return EK_HIL_E_BAD_ARGS;
    uint32_t idx = in[0], n = get32(in + 4);
    if (idx >= ek_model_info()->n_inputs || n != ek_model_input_bytes(idx))
        return EK_HIL_E_OUT_OF_RANGE;
    return ek_hil_file_read(path, ek_model_input(idx), n) == (int32_t)n ? EK_HIL_OK : EK_HIL_E_HOOK_FAILED;
}

static uint32_t do_save_output(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    static char path[EK_HIL_MAX_PAYLOAD];
    if (!ek_hil_file_write)
        return EK_HIL_E_UNSUPPORTED;
    if (in_len < 5 || !take_path(in, in_len, 4, path, sizeof path))
        return EK_HIL_E_BAD_ARGS;
    uint32_t idx = in[0];
    if (idx >= ek_model_info()->n_outputs)
        return EK_HIL_E_OUT_OF_RANGE;
    uint32_t n = ek_model_output_bytes(idx);
    if (ek_hil_file_write(path, ek_model_output(idx), n) != (int32_t)n)
        return EK_HIL_E_HOOK_FAILED;
    put32(out, n);
    *len = 4;
    return EK_HIL_OK;
}

static uint32_t do_run(uint8_t *out, uint32_t *len)
{
    uint64_t t0 = ek_hil_counter();
    int rc = ek_model_run();
    uint64_t t1 = ek_hil_counter();
    last_run_count = t1 - t0;
    have_run = 1;
    put32(out, (uint32_t)rc);
    put32(out + 4, (uint32_t)last_run_count);
    put32(out + 8, (uint32_t)(last_run_count >> 32));
    out[12] = ek_hil_counter_unit();
    out[13] = out[14] = out[15] = 0;
    *len = 16;
    return rc == 0 ? EK_HIL_OK : EK_HIL_E_MODEL_FAILED;
}

static uint32_t do_get_output(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    if (in_len != 12)
        return EK_HIL_E_BAD_ARGS;
    uint32_t idx = in[0], off = get32(in + 4), want = get32(in + 8);
    if (idx >= ek_model_info()->n_outputs)
        return EK_HIL_E_OUT_OF_RANGE;
    uint32_t size = ek_model_output_bytes(idx);
    if (off > size)
        return EK_HIL_E_OUT_OF_RANGE;
    uint32_t n = size - off;
    if (n > want)
        n = want;
    if (n > EK_HIL_MAX_PAYLOAD)
        n = EK_HIL_MAX_PAYLOAD;
    memcpy(out, ek_model_output(idx) + off, n);
    *len = n;
    return EK_HIL_OK;
}

static uint32_t do_timing(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    if (in_len != 4)
        return EK_HIL_E_BAD_ARGS;
    const uint32_t *layers = have_run ? ek_model_layer_counts() : NULL;
    uint32_t n_layers = layers ? ek_model_info()->n_layers : 0;
    uint32_t first = get32(in);
    if (first > n_layers)
        return EK_HIL_E_OUT_OF_RANGE;
    uint32_t count = n_layers - first, room = (EK_HIL_MAX_PAYLOAD - 24u) / 4u;
    if (count > room)
        count = room;
    put32(out, (uint32_t)last_run_count);
    put32(out + 4, (uint32_t)(last_run_count >> 32));
    out[8] = ek_hil_counter_unit();
    out[9] = (uint8_t)have_run;
    out[10] = out[11] = 0;
    put32(out + 12, n_layers);
    put32(out + 16, first);
    put32(out + 20, count);
    for (uint32_t i = 0; i < count; i++)
        put32(out + 24 + 4 * i, layers[first + i]);
    *len = 24 + 4 * count;
    return EK_HIL_OK;
}

static uint32_t do_train_step(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    if (!ek_train_step)
        return EK_HIL_E_UNSUPPORTED;
    uint32_t n = 0;
    int rc = ek_train_step(in, in_len, out, EK_HIL_MAX_PAYLOAD, &n);
    if (rc != 0) {
        put32(out, (uint32_t)rc);
        *len = 4;
        return EK_HIL_E_HOOK_FAILED;
    }
    *len = n > EK_HIL_MAX_PAYLOAD ? EK_HIL_MAX_PAYLOAD : n;
    return EK_HIL_OK;
}

static uint32_t do_get_weights(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    if (!ek_train_weight_bytes || !ek_train_get_weights)
        return EK_HIL_E_UNSUPPORTED;
    if (in_len != 8)
        return EK_HIL_E_BAD_ARGS;
    uint32_t total = ek_train_weight_bytes(), off = get32(in), want = get32(in + 4);
    if (off > total)
        return EK_HIL_E_OUT_OF_RANGE;
    uint32_t n = total - off;
    if (n > want)
        n = want;
    if (n > EK_HIL_MAX_PAYLOAD - 4u)
        n = EK_HIL_MAX_PAYLOAD - 4u;
    put32(out, total);
    int rc = ek_train_get_weights(off, out + 4, n);
    if (rc != 0) {
        put32(out, (uint32_t)rc);
        *len = 4;
        return EK_HIL_E_HOOK_FAILED;
    }
    *len = 4 + n;
    return EK_HIL_OK;
}

static uint32_t do_set_weights(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t *len)
{
    if (!ek_train_weight_bytes || !ek_train_set_weights)
        return EK_HIL_E_UNSUPPORTED;
    if (in_len < 4)
        return EK_HIL_E_BAD_ARGS;
    uint32_t total = ek_train_weight_bytes(), off = get32(in), n = in_len - 4;
    if (off > total || n > total - off)
        return EK_HIL_E_OUT_OF_RANGE;
    int rc = ek_train_set_weights(off, in + 4, n);
    if (rc != 0) {
        put32(out, (uint32_t)rc);
        *len = 4;
        return EK_HIL_E_HOOK_FAILED;
    }
    return EK_HIL_OK;
}

static void handle_frame(void)
{
    if (rx_len < EK_HIL_HEADER_BYTES + EK_HIL_CRC_BYTES) {
        send_nak(0xFFFFu);
        return;
    }
    uint16_t seq = (uint16_t)get16(rx + 2);
    uint32_t len = get16(rx + 4);
    uint32_t crc = get32(rx + rx_len - EK_HIL_CRC_BYTES);
    if (len != rx_len - EK_HIL_HEADER_BYTES - EK_HIL_CRC_BYTES ||
        ek_hil_crc32(0, rx, rx_len - EK_HIL_CRC_BYTES) != crc) {
        send_nak(seq);
        return;
    }
    uint8_t type = rx[0];
    if (cache_valid && seq == cache_seq && crc == cache_req_crc) {
        send_frame(tx, tx_len); /* a retry: same answer, nothing executed twice */
        return;
    }
    const uint8_t *in = rx + EK_HIL_HEADER_BYTES;
    uint8_t *out = tx + EK_HIL_HEADER_BYTES;
    uint32_t out_len = 0, st;
    int needs_session = !(type == EK_HIL_HELLO || type == EK_HIL_INFO || type == EK_HIL_ECHO ||
                          type == EK_HIL_RESET);
    if (needs_session && session_token == 0) {
        st = EK_HIL_E_NO_SESSION;
    } else {
        if (type == EK_HIL_RUN || type == EK_HIL_TRAIN_STEP) {
            /* Tell the host the command arrived before a run of unknown length, so it
             * can tell a lost frame (resend soon) from a long run (wait). */
            send_bare(EK_HIL_ACK, EK_HIL_OK, seq);
        }
        switch (type) {
        case EK_HIL_HELLO: st = do_hello(in, len, out, &out_len); break;
        case EK_HIL_INFO: st = info_block(out, EK_HIL_MAX_PAYLOAD, &out_len); break;
        case EK_HIL_SET_INPUT: st = do_set_input(in, len); break;
        case EK_HIL_RUN: st = do_run(out, &out_len); break;
        case EK_HIL_GET_OUTPUT: st = do_get_output(in, len, out, &out_len); break;
        case EK_HIL_TIMING: st = do_timing(in, len, out, &out_len); break;
        case EK_HIL_TRAIN_STEP: st = do_train_step(in, len, out, &out_len); break;
        case EK_HIL_GET_WEIGHTS: st = do_get_weights(in, len, out, &out_len); break;
        case EK_HIL_SET_WEIGHTS: st = do_set_weights(in, len, out, &out_len); break;
        case EK_HIL_LOAD_INPUT: st = do_load_input(in, len); break;
        case EK_HIL_SAVE_OUTPUT: st = do_save_output(in, len, out, &out_len); break;
        case EK_HIL_RESET: st = EK_HIL_OK; break;
        case EK_HIL_ECHO:
            memmove(out, in, len); /* rx and tx are distinct buffers; memmove for clarity */
            out_len = len;
            st = EK_HIL_OK;
            break;
        default: st = EK_HIL_E_UNKNOWN_CMD; break;
        }
    }
    finish_reply(type, (uint8_t)st, seq, out_len);
    cache_valid = 1;
    cache_seq = seq;
    cache_req_crc = crc;
    send_frame(tx, tx_len);
    if (type == EK_HIL_RESET && st == EK_HIL_OK)
        ek_hil_reboot();
}

/* ---- COBS reassembly ---------------------------------------------------------------- */

static void rx_restart(void)
{
    rx_len = 0;
    rx_code = 0;
    rx_left = 0;
    rx_overflow = 0;
}

static void rx_append(uint8_t c)
{
    if (rx_len < sizeof rx)
        rx[rx_len++] = c;
    else
        rx_overflow = 1;
}

void ek_hil_rx_byte(uint8_t c)
{
    if (c == 0x00) {
        if (rx_code == 0 && rx_len == 0) {
            /* An empty frame: the host sends a delimiter first to flush line noise. */
        } else if (rx_overflow || rx_left != 0) {
            send_nak(rx_len >= 4 ? (uint16_t)get16(rx + 2) : 0xFFFFu);
        } else {
            handle_frame();
        }
        rx_restart();
        return;
    }
    if (rx_left == 0) {
        /* A code byte; the previous block's code (if below 0xFF) implied a zero. */
        if (rx_code != 0 && rx_code != 0xFF)
            rx_append(0x00);
        rx_code = c;
        rx_left = (uint8_t)(c - 1);
    } else {
        rx_append(c);
        rx_left--;
    }
}

void ek_hil_serve(void)
{
    uint8_t f[EK_HIL_HEADER_BYTES + 4u + EK_HIL_CRC_BYTES];
    f[0] = EK_HIL_BOOT;
    f[1] = EK_HIL_OK;
    put16(f + 2, 0xFFFFu);
    put16(f + 4, 4u);
    put32(f + EK_HIL_HEADER_BYTES, ek_hil_boot_count());
    put32(f + EK_HIL_HEADER_BYTES + 4u, ek_hil_crc32(0, f, EK_HIL_HEADER_BYTES + 4u));
    send_frame(f, sizeof f);
    rx_restart();
    for (;;) {
        int c = ek_hil_getc();
        if (c < 0)
            return;
        ek_hil_rx_byte((uint8_t)c);
    }
}
