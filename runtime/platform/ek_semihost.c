/* Arm semihosting (bkpt 0xAB): exit with a status code and host file I/O.  Under QEMU
 * run with -semihosting-config enable=on,target=native.  Bulk test data goes through
 * SYS_READ (MB/s) instead of the emulated UART (~20 KB/s). */
#include "ek_platform.h"

/* On a real board a semihosting BKPT without a debugger attached is a HardFault (then a
 * lockup), so builds for real boards set EK_SEMIHOSTING=0: exit parks the core and the
 * file calls fail cleanly.  Emulated boards (QEMU -semihosting) set 1. */
#ifndef EK_SEMIHOSTING
#define EK_SEMIHOSTING 1
#endif

enum {
    SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
    SYS_FLEN = 0x0C, SYS_EXIT_EXTENDED = 0x20,
};
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int32_t semihost(uint32_t op, const void *arg) {
#if !EK_SEMIHOSTING
    (void)op;
    (void)arg;
    return -1;
#endif
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

static uint32_t cstrlen(const char *s) {
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

void ek_exit(int code) {
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {  /* no debugger attached: park the core */
        __asm__ volatile("wfi");
    }
}

int32_t ek_sh_open(const char *path, int32_t mode) {
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, cstrlen(path)};
    return semihost(SYS_OPEN, block);
}

int32_t ek_sh_close(int32_t handle) {
    uint32_t block[1] = {(uint32_t)handle};
    return semihost(SYS_CLOSE, block);
}

int32_t ek_sh_read(int32_t handle, void *buf, uint32_t n) {
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, n};
    int32_t left = semihost(SYS_READ, block);  /* returns the bytes NOT read */
    return left < 0 ? -1 : (int32_t)n - left;
}

int32_t ek_sh_write(int32_t handle, const void *buf, uint32_t n) {
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, n};
    int32_t left = semihost(SYS_WRITE, block);  /* returns the bytes NOT written */
    return left < 0 ? -1 : (int32_t)n - left;
}

int32_t ek_sh_flen(int32_t handle) {
    uint32_t block[1] = {(uint32_t)handle};
    return semihost(SYS_FLEN, block);
}

void ek_sh_write0(const char *s) { semihost(SYS_WRITE0, s); }
