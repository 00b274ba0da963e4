/* Host-native port of the rig: the device is an ordinary process talking over its
 * stdin/stdout (a pipe or a pty), so the whole protocol is tested in milliseconds.
 *
 * A reset is real: the process re-executes itself (RESET command, or SIGUSR1 as the
 * "reset button"), losing all RAM state, with the boot count carried in EK_HIL_BOOT. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ek_hil.h"

extern char **environ;

static uint8_t in_buf[4096], out_buf[4096];
static size_t in_len, in_pos, out_len;
static uint32_t boot_count;
static char **reboot_argv;
static char *reboot_envp[256];
static char boot_env[32];
/* Under a user-mode emulator (qemu-riscv64 running a RISC-V build of this port) the host
 * kernel cannot exec /proc/self/exe, a foreign ELF; the host then names the emulator
 * command in EK_HIL_REBOOT_CMD (arguments separated by newlines), and execve of that
 * host binary from inside the emulator runs it natively: a fresh emulator, a fresh image. */
static char reboot_cmd_buf[4096];
static char *reboot_cmd_argv[64];

int ek_hil_getc(void)
{
    if (in_pos == in_len) {
        ssize_t n;
        do {
            n = read(0, in_buf, sizeof in_buf);
        } while (n < 0 && errno == EINTR);
        if (n <= 0)
            return -1;
        in_len = (size_t)n;
        in_pos = 0;
    }
    return in_buf[in_pos++];
}

void ek_hil_flush(void)
{
    size_t done = 0;
    while (done < out_len) {
        ssize_t n = write(1, out_buf + done, out_len - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            _exit(3); /* the host is gone */
        }
        done += (size_t)n;
    }
    out_len = 0;
}

void ek_hil_putc(uint8_t c)
{
    if (out_len == sizeof out_buf)
        ek_hil_flush();
    out_buf[out_len++] = c;
}

uint64_t ek_hil_counter(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint8_t ek_hil_counter_unit(void) { return EK_HIL_UNIT_NS; }

int32_t ek_hil_file_read(const char *path, uint8_t *dst, uint32_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t got = fread(dst, 1, n, f);
    fclose(f);
    return (int32_t)got;
}

int32_t ek_hil_file_write(const char *path, const uint8_t *src, uint32_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(src, 1, n, f);
    return fclose(f) == 0 ? (int32_t)put : -1;
}

uint32_t ek_hil_boot_count(void) { return boot_count; }

void ek_hil_reboot(void)
{
    /* execve is async-signal-safe, so this also serves as the SIGUSR1 handler's body. */
    execve("/proc/self/exe", reboot_argv, reboot_envp);
    if (reboot_cmd_argv[0])
        execve(reboot_cmd_argv[0], reboot_cmd_argv, reboot_envp);
    _exit(4);
}

static void on_reset_button(int sig)
{
    (void)sig;
    ek_hil_reboot();
}

static void prepare_reboot(char **argv)
{
    /* Everything execve needs is built now: a signal handler may not allocate. */
    const char *b = getenv("EK_HIL_BOOT");
    boot_count = b ? (uint32_t)strtoul(b, NULL, 10) : 1u;
    snprintf(boot_env, sizeof boot_env, "EK_HIL_BOOT=%u", (unsigned)(boot_count + 1u));
    size_t k = 0;
    for (char **e = environ; *e && k < 254; e++)
        if (strncmp(*e, "EK_HIL_BOOT=", 12) != 0)
            reboot_envp[k++] = *e;
    reboot_envp[k++] = boot_env;
    reboot_envp[k] = NULL;
    reboot_argv = argv;
    const char *cmd = getenv("EK_HIL_REBOOT_CMD");
    if (cmd && strlen(cmd) < sizeof reboot_cmd_buf) {
        strcpy(reboot_cmd_buf, cmd);
        size_t n = 0;
        for (char *p = reboot_cmd_buf; p && *p && n < 63;) {
            reboot_cmd_argv[n++] = p;
            p = strchr(p, '\n');
            if (p)
                *p++ = '\0';
        }
        reboot_cmd_argv[n] = NULL;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_reset_button;
    sa.sa_flags = SA_NODEFER; /* the mask survives execve; never leave SIGUSR1 blocked */
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    (void)argc;
    prepare_reboot(argv);
    ek_hil_serve();
    return 0;
}
