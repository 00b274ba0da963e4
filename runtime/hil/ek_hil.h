/* The host-in-the-loop rig, firmware side: a small request/reply server that lets the
 * host (edgesdk.hil) load inputs, run the model, read outputs and timings, and drive
 * on-device training, over any byte stream (UART, a pty, stdin/stdout).
 *
 * Wire format (see PROTOCOL.md): each frame is
 *     u8 type | u8 status | u16 seq | u16 len | payload[len] | u32 crc32
 * (little endian; CRC-32/IEEE over everything before it), COBS-encoded and ended by 0x00.
 *
 * Portable C99, no malloc, no stdio: the platform provides the seam below.
 */
#ifndef EK_HIL_H
#define EK_HIL_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EK_HIL_PROTO_VERSION 1u

/* Largest payload of one frame. Bigger frames amortise the per-frame round trip; the
 * RAM cost is about 2x this (one receive buffer, one reply buffer that doubles as the
 * reply cache). */
#ifndef EK_HIL_MAX_PAYLOAD
#define EK_HIL_MAX_PAYLOAD 1024u
#endif
#define EK_HIL_HEADER_BYTES 6u
#define EK_HIL_CRC_BYTES 4u
#define EK_HIL_MAX_FRAME (EK_HIL_HEADER_BYTES + EK_HIL_MAX_PAYLOAD + EK_HIL_CRC_BYTES)

/* Commands (frame type in a request; a reply has type | EK_HIL_REPLY). */
enum {
    EK_HIL_HELLO = 0x01,       /* u32 host token -> info block, u32 previous token, u32 boot count */
    EK_HIL_INFO = 0x02,        /* -> info block */
    EK_HIL_SET_INPUT = 0x03,   /* u8 index, u8[3] 0, u32 offset, bytes -> (empty) */
    EK_HIL_RUN = 0x04,         /* -> i32 rc, u32 counter lo, u32 counter hi, u8 unit */
    EK_HIL_GET_OUTPUT = 0x05,  /* u8 index, u8[3] 0, u32 offset, u32 max bytes -> bytes */
    EK_HIL_TIMING = 0x06,      /* u32 first layer -> see PROTOCOL.md */
    EK_HIL_TRAIN_STEP = 0x07,  /* opaque -> opaque (ek_train_step) */
    EK_HIL_GET_WEIGHTS = 0x08, /* u32 offset, u32 max bytes -> u32 total, bytes */
    EK_HIL_SET_WEIGHTS = 0x09, /* u32 offset, bytes -> (empty) */
    EK_HIL_RESET = 0x0A,       /* -> (empty), then the device reboots */
    EK_HIL_ECHO = 0x0B,        /* bytes -> the same bytes (latency/throughput probe) */
    EK_HIL_LOAD_INPUT = 0x0C,  /* u8 index, u8[3] 0, u32 bytes, path -> (empty): input from a host file */
    EK_HIL_SAVE_OUTPUT = 0x0D, /* u8 index, u8[3] 0, path -> u32 bytes: output to a host file */
    EK_HIL_BOOT = 0x7D,        /* device -> host only, unasked, at boot: u32 boot count */
    EK_HIL_ACK = 0x7E,         /* device -> host only: a long command (RUN, TRAIN_STEP) started */
    EK_HIL_NAK = 0x7F,         /* device -> host only: a frame arrived damaged; resend */
    EK_HIL_REPLY = 0x80
};

/* Reply status. */
enum {
    EK_HIL_OK = 0,
    EK_HIL_E_UNKNOWN_CMD = 1,
    EK_HIL_E_BAD_ARGS = 2,
    EK_HIL_E_OUT_OF_RANGE = 3,
    EK_HIL_E_MODEL_FAILED = 4,
    EK_HIL_E_UNSUPPORTED = 5,  /* e.g. training commands in a build without the training runtime */
    EK_HIL_E_NO_SESSION = 6,   /* no HELLO since boot: the device was reset under the host */
    EK_HIL_E_HOOK_FAILED = 7,
    EK_HIL_E_TOO_LARGE = 8,
    EK_HIL_E_BAD_FRAME = 9     /* status of a NAK */
};

/* What the counter measures (RUN and TIMING replies). */
enum {
    EK_HIL_UNIT_NONE = 0,
    EK_HIL_UNIT_INSTRUCTIONS = 1, /* exact under QEMU -icount shift=0 */
    EK_HIL_UNIT_CYCLES = 2,
    EK_HIL_UNIT_NS = 3            /* host-native builds */
};

/* Capability bits in the info block. */
#define EK_HIL_CAP_TRAIN 1u
#define EK_HIL_CAP_LAYER_TIMING 2u
#define EK_HIL_CAP_COUNTER 4u
#define EK_HIL_CAP_FILES 8u /* LOAD_INPUT/SAVE_OUTPUT: bulk data through host files */

/* ---- the server -------------------------------------------------------------- */

/* Announces the boot (an EK_HIL_BOOT frame, so a host waiting on a run learns at once
 * that the device rebooted), then serves requests forever (returns only when
 * ek_hil_getc reports the line closed). */
void ek_hil_serve(void);

/* Feeds one received byte to the server; handles and answers a complete frame.
 * For platforms that receive in an interrupt or poll loop of their own. */
void ek_hil_rx_byte(uint8_t c);

/* ---- the platform seam: one ek_hil_port_*.c provides these --------------------- */

int ek_hil_getc(void);          /* blocks; a byte 0..255, or -1 when the line is closed */
void ek_hil_putc(uint8_t c);
void ek_hil_flush(void);        /* end of a reply: push buffered bytes out */
uint64_t ek_hil_counter(void);  /* a monotonic count in ek_hil_counter_unit() units */
uint8_t ek_hil_counter_unit(void);
uint32_t ek_hil_boot_count(void); /* how many times this device has booted (0 if unknown) */
void ek_hil_reboot(void);       /* called after the RESET reply has been flushed */

/* Optional: host file access for bulk transfers (semihosting on an emulator, stdio on
 * the host build). Weak references: a port without them answers EK_HIL_E_UNSUPPORTED
 * and the host streams over the line instead. Return the bytes moved, or -1. */
int32_t ek_hil_file_read(const char *path, uint8_t *dst, uint32_t n) __attribute__((weak));
int32_t ek_hil_file_write(const char *path, const uint8_t *src, uint32_t n) __attribute__((weak));

/* ---- training hooks: the on-device training runtime (runtime/train) defines them.
 * They are weak references: in a build without training they are absent and the
 * commands answer EK_HIL_E_UNSUPPORTED. All return 0 on success. ---------------- */

int ek_train_step(const uint8_t *arg, uint32_t arg_len,
                  uint8_t *reply, uint32_t reply_cap, uint32_t *reply_len) __attribute__((weak));
uint32_t ek_train_weight_bytes(void) __attribute__((weak));
int ek_train_get_weights(uint32_t offset, uint8_t *dst, uint32_t n) __attribute__((weak));
int ek_train_set_weights(uint32_t offset, const uint8_t *src, uint32_t n) __attribute__((weak));

/* ---- codec helpers (also used by the tests) ------------------------------------- */

uint32_t ek_hil_crc32(uint32_t crc, const uint8_t *p, size_t n); /* start with crc = 0 */
/* COBS-encodes n bytes through ek_hil_putc, then the 0x00 delimiter. */
void ek_hil_cobs_send(const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
