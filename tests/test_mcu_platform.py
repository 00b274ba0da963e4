"""The bare-metal Cortex-M platform (startup, UART, SysTick clock, semihosting exit,
fault handlers) and the ARM toolchain driver, on all three QEMU machines."""
import os
import textwrap

import pytest

from conftest import require_tools
from edgesdk.errors import BoardError, EdgeError, FitError, ToolMissingError
from edgesdk.package import arm

BOARDS = ["mps2-an386", "mps2-an500", "mps3-an547"]
needs_arm = require_tools("arm-none-eabi-gcc", "qemu-system-arm")

HELLO = r"""
#include "ek_platform.h"
volatile int32_t g_data = -42;   /* .data: copied from flash by the reset handler */
int32_t g_bss[64];               /* .bss: zeroed by the reset handler */
__attribute__((noipa)) void spin(uint32_t n) {
    for (uint32_t i = 0; i < n; i++) __asm__ volatile("nop");
}
int main(void) {
    ek_uart_puts("hello ");
    ek_uart_put_i32(g_data + g_bss[17]);
    volatile float f = 1.5f;                 /* the FPU must be enabled */
    ek_uart_puts(f * 2.0f == 3.0f ? " fpu-ok" : " fpu-bad");
    /* Two runs of one loop, 10x apart in length: the difference is exact work. */
    ek_clock_start(); spin(1000);    uint64_t a = ek_clock_instructions();
    ek_clock_start(); spin(2000000); uint64_t b = ek_clock_instructions();
    ek_uart_puts(" a="); ek_uart_put_u64(a);
    ek_uart_puts(" b="); ek_uart_put_u64(b);
    ek_uart_puts(" res="); ek_uart_put_u32(ek_clock_instructions_per_tick());
    ek_uart_puts(" rx=");
    for (int i = 0; i < 3; i++) ek_uart_putc(ek_uart_getc() + 1);
    ek_uart_puts("\n");
    return 7;
}
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@needs_arm
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("reload", [None, 0x3FF])
def test_hello_uart_clock_exit(tmp_path, board, reload):
    # reload 0x3FF: SysTick wraps every 1024 ticks, so the 2M-iteration loop crosses
    # thousands of wraps and the reload counting in the SysTick handler must be exact.
    defines = {"EK_SYSTICK_RELOAD": hex(reload)} if reload else None
    info = arm.compile_firmware([_write(tmp_path, "hello.c", HELLO)], board, tmp_path / "fw.elf",
                                defines=defines)
    assert info.elf.is_file() and "FLASH" in info.memory_usage and "RAM" in info.memory_usage
    assert 0 < info.flash_bytes < 64 * 1024 and info.ram_bytes >= info.stack_bytes
    res = arm.run_firmware(info.elf, board, timeout=30, stdin_bytes=b"abc")
    assert res.exit_code == 7, res
    text = res.text
    assert text.startswith("hello -42 fpu-ok"), text
    assert "rx=bcd" in text
    fields = dict(kv.split("=") for kv in text.split() if "=" in kv)
    a, b, res_ = int(fields["a"]), int(fields["b"]), int(fields["res"])
    # spin() is a counted loop of a fixed number of instructions per iteration (2 on
    # the M55 with its low-overhead loop, 3..6 elsewhere): the difference of the two
    # runs is an exact multiple, up to the clock's resolution (plus the SysTick handler's
    # few instructions per wrap when the reload is small).
    per_iter = (b - a) / (2000000 - 1000)
    slack = 2 * res_ + 2 + (30 * b // (res_ * (reload + 1)) if reload else 0)
    assert abs(per_iter - round(per_iter)) * (2000000 - 1000) <= slack, (a, b)
    assert 2 <= round(per_iter) <= 6


@needs_arm
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_fault_exits_with_code(tmp_path, board):
    src = _write(tmp_path, "fault.c", r"""
        #include "ek_platform.h"
        int main(void) {
            ek_uart_puts("before\n");
            volatile uint32_t *bad = (volatile uint32_t *)0xF0000000u;  /* unmapped */
            return (int)*bad;
        }""")
    info = arm.compile_firmware([src], board, tmp_path / "fault.elf")
    res = arm.run_firmware(info.elf, board, timeout=30)
    assert res.exit_code in (103, 105), res  # BusFault (or escalated HardFault)
    assert "before" in res.text and "EK FAULT" in res.text


@needs_arm
def test_stack_overflow_is_caught_on_m55(tmp_path):
    src = _write(tmp_path, "deep.c", r"""
        #include "ek_platform.h"
        __attribute__((noipa)) int deep(int n) { volatile char buf[256]; buf[0] = (char)n;
            return n ? deep(n - 1) + buf[0] : 0; }
        int main(void) { return deep(1000) & 1; }""")
    info = arm.compile_firmware([src], "mps3-an547", tmp_path / "deep.elf", stack_bytes=4096)
    res = arm.run_firmware(info.elf, "mps3-an547", timeout=30)
    assert res.exit_code == 106, res  # UsageFault (STKOF through MSPLIM)


@needs_arm
def test_program_too_big_is_a_fit_error(tmp_path):
    src = _write(tmp_path, "big.c", r"""
        #include <stdint.h>
        const int8_t table[600 * 1024] = {1};   /* flash: more than the AN547's 512K ITCM */
        int8_t arena[300 * 1024];               /* RAM: more than 256K */
        int main(void) { return table[arena[5]]; }""")
    with pytest.raises(FitError) as e:
        arm.compile_firmware([src], "mps3-an547", tmp_path / "big.elf")
    msg = str(e.value)
    assert "mps3-an547" in msg and "flash needs" in msg and "RAM needs" in msg and "\n" not in msg
    assert not (tmp_path / "big.elf").exists()


@needs_arm
def test_linker_script_follows_the_board(tmp_path):
    text = arm.linker_script("mps3-an547", stack_bytes=2048)
    assert "ORIGIN = 0x21000000" in text and "LENGTH = 0x80000" in text and "0x800;" in text


def test_missing_toolchain_names_the_apt_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="apt-get install gcc-arm-none-eabi"):
        arm.compile_firmware([], "mps2-an386", tmp_path / "x.elf")


def test_non_mcu_board_is_rejected(tmp_path):
    y = tmp_path / "gpu.yaml"
    y.write_text("name: g\ntarget: gpu\ncore: x\nrunner: host\n")
    with pytest.raises(BoardError, match="not an mcu"):
        arm.compile_firmware([], y, tmp_path / "x.elf")


@needs_arm
def test_compile_error_is_one_line_naming_the_file(tmp_path):
    src = _write(tmp_path, "broken.c", "int main(void) { return undefined_thing; }\n")
    with pytest.raises(arm.BuildError) as e:
        arm.compile_firmware([src], "mps2-an386", tmp_path / "broken.elf")
    msg = str(e.value)
    assert "broken.c" in msg and "undefined_thing" in msg and "\n" not in msg
    assert "error" in e.value.log


def test_missing_source_and_firmware_files(tmp_path):
    with pytest.raises(EdgeError, match="nope.c: firmware source file does not exist"):
        arm.compile_firmware([tmp_path / "nope.c"], "mps2-an386", tmp_path / "x.elf")
    with pytest.raises(EdgeError, match="nope.elf: firmware file does not exist"):
        arm.run_firmware(tmp_path / "nope.elf", "mps2-an386")


@needs_arm
def test_firmware_that_hangs_is_killed(tmp_path):
    src = _write(tmp_path, "hang.c", "int main(void) { for (;;) { } }\n")
    info = arm.compile_firmware([src], "mps2-an386", tmp_path / "hang.elf")
    res = arm.run_firmware(info.elf, "mps2-an386", timeout=2)
    assert res.timed_out and res.exit_code is None and res.wall_s < 10


@needs_arm
def test_uart_over_tcp_with_pyserial(tmp_path):
    # The host-in-the-loop path: the UART on a TCP socket, the host on pyserial.
    import select

    import serial

    from edgesdk.hil.qemu import free_port

    src = _write(tmp_path, "echo.c", r"""
        #include "ek_platform.h"
        int main(void) {
            ek_uart_puts("ready\n");
            uint8_t buf[64];
            ek_uart_read(buf, sizeof buf);               /* blocking rx, 64 bytes */
            for (unsigned i = 0; i < sizeof buf; i++) buf[i] ^= 0x5A;
            ek_uart_write(buf, sizeof buf);
            return 3;
        }""")
    info = arm.compile_firmware([src], "mps2-an386", tmp_path / "echo.elf")
    for _attempt in range(3):
        # A free port can be taken by a parallel test between our probe and QEMU's bind; then
        # a connect would reach the other test's QEMU. So connect only once OUR QEMU says it
        # is listening (its "waiting for connection" line), else retry on another port.
        port = free_port()
        with arm.running_firmware(info.elf, "mps2-an386", f"tcp:127.0.0.1:{port},server=on,wait=on") as proc:
            ready, _, _ = select.select([proc.stderr], [], [], 20)
            line = proc.stderr.readline().decode(errors="replace") if ready else ""
            if "waiting for connection" not in line:
                assert "Address already in use" in line or proc.poll() is not None, f"QEMU said: {line!r}"
                continue
            # generous: under a loaded CI machine QEMU can take seconds to start the guest
            link = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=30)
            with link:
                assert link.read(6) == b"ready\n"
                payload = bytes(range(64))
                link.write(payload)
                assert link.read(64) == bytes(b ^ 0x5A for b in payload)
            assert proc.wait(timeout=20) == 3
            return
    pytest.fail("QEMU could not bind a free TCP port in 3 attempts")


def test_missing_qemu_names_the_apt_package(tmp_path, monkeypatch):
    elf = tmp_path / "x.elf"
    elf.write_bytes(b"\x7fELF")
    real_which = arm.shutil.which
    monkeypatch.setattr(arm.shutil, "which", lambda n: None if n.startswith("qemu") else real_which(n))
    with pytest.raises(ToolMissingError, match="apt-get install qemu-system-arm"):
        arm.run_firmware(elf, "mps2-an386")


@needs_arm
def test_real_board_builds_do_not_use_semihosting(tmp_path):
    # EK_SEMIHOSTING=0 (what real boards get): ek_exit must park instead of a BKPT, and
    # file calls fail cleanly; under QEMU that shows as a run that never exits.
    src = _write(tmp_path, "nosh.c", r"""
        #include "ek_platform.h"
        int main(void) {
            ek_uart_puts(ek_sh_open("x.bin", EK_SH_READ_BINARY) == -1 ? "open-refused\n" : "open-ok\n");
            return 0;
        }""")
    info = arm.compile_firmware([src], "mps2-an386", tmp_path / "nosh.elf", defines={"EK_SEMIHOSTING": "0"})
    res = arm.run_firmware(info.elf, "mps2-an386", timeout=3)
    assert res.timed_out and "open-refused" in res.text
    assert arm.board_defines("mps2-an386")["EK_SEMIHOSTING"] == "1"
