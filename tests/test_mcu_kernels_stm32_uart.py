"""The STM32 USART driver (runtime/platform/ek_uart_stm32.c) selected by uart.kind.

No STM32F7 board and no emulator of its USART exist here (QEMU 7.2's STM32 machines have
the older F1/F4 USART layout), so: (1) the firmware for nucleo-f746zg must compile and
link with that driver and not the CMSDK one; (2) the driver itself runs natively against
memory standing in for the USART3/RCC/GPIOD registers, and every register it writes is
checked against values derived by hand from the STM32F7 reference manual (RM0385)."""
import subprocess
import textwrap

import pytest

from conftest import have, require_tools
from edgesdk.errors import BoardError
from edgesdk.package import arm
from edgesdk.paths import runtime_dir

needs_arm = require_tools("arm-none-eabi-gcc", "arm-none-eabi-objdump")

TINY = r"""
#include "ek_platform.h"
int main(void) {
    ek_uart_puts("hi ");
    ek_uart_put_u32(42);
    return ek_uart_getc() == 'x' ? 0 : 1;
}
"""


def test_board_defines_stm32_usart():
    d = arm.board_defines("nucleo-f746zg")
    assert d["EK_UART_STM32"] == "1"
    assert d["EK_UART_BASE"] == "0x40004800u"           # USART3 (RM0385 memory map)
    assert d["EK_UART_BRR"] == "139u"                    # 16 MHz HSI / 115200 = 138.9
    assert "EK_UART_BAUDDIV" not in d
    assert d["EK_SEMIHOSTING"] == "0"                    # a real board: no debugger assumed
    cmsdk = arm.board_defines("mps2-an386")
    assert "EK_UART_STM32" not in cmsdk and cmsdk["EK_UART_BASE"] == "0x40004000u"


def test_unknown_uart_kind_is_one_clear_error(tmp_path):
    from edgesdk.boards import load_board
    text = (load_board("nucleo-f746zg").path.read_text()
            .replace("kind: stm32-usart", "kind: pl011").replace("name: nucleo-f746zg", "name: myboard"))
    p = tmp_path / "myboard.yaml"
    p.write_text(text)
    with pytest.raises(BoardError) as e:
        arm.board_defines(load_board(str(p)))
    msg = str(e.value)
    assert "myboard.yaml" in msg and "'pl011'" in msg and "stm32-usart" in msg and "\n" not in msg


@needs_arm
def test_nucleo_firmware_compiles_with_the_stm32_driver(tmp_path):
    src = tmp_path / "tiny.c"
    src.write_text(textwrap.dedent(TINY))
    info = arm.compile_firmware([src], "nucleo-f746zg", tmp_path / "fw.elf")
    assert info.elf.is_file() and info.board == "nucleo-f746zg"
    assert 0 < info.flash_bytes < 64 * 1024
    putc = _disassemble(info.elf, "ek_uart_putc")
    # ek_uart_putc polls USART3_ISR (0x4000481c) and writes USART3_TDR (0x40004828): GCC
    # addresses them from 0x40004000 (offsets 0x81c, 0x828) or loads them whole.
    assert any(a in putc for a in ("0x81c", "4000481c")), putc
    assert any(a in putc for a in ("0x828", "40004828")), putc
    # and an mps2 build of the same program still gets the CMSDK driver (STATE at +4)
    info2 = arm.compile_firmware([src], "mps2-an386", tmp_path / "fw2.elf")
    putc2 = _disassemble(info2.elf, "ek_uart_putc")
    assert "0x81c" not in putc2 and "4000481c" not in putc2, putc2


def _disassemble(elf, fn):
    out = subprocess.run(["arm-none-eabi-objdump", "-d", f"--disassemble={fn}", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    assert f"<{fn}>:" in out, f"{fn} not linked"
    return out


HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include "ek_platform.h"
extern uint32_t g_usart[16], g_rcc[64], g_gpio[16];
#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\n", __LINE__, #c); return 1; } } while (0)
int main(void) {
    g_gpio[0] = 0xFFFFFFFFu;               /* MODER: pins in analog mode (11), as after reset */
    g_gpio[9] = 0x12345678u;               /* AFRH: junk the driver must replace per pin only */
    g_usart[7] = 1u << 7;                  /* ISR: TXE */
    ek_uart_init();
    CHECK(g_rcc[0x30 / 4] == (1u << 3));   /* AHB1ENR.GPIODEN */
    CHECK(g_rcc[0x40 / 4] == (1u << 18));  /* APB1ENR.USART3EN */
    CHECK(g_gpio[0] == (0xFFFFFFFFu & ~(0xFu << 16)) + (0xAu << 16));  /* PD8, PD9: AF (10) */
    CHECK(g_gpio[9] == ((0x12345678u & ~0xFFu) | 0x77u));  /* AF7 on pins 8 and 9 */
    CHECK(g_usart[3] == 139u);             /* BRR */
    CHECK(g_usart[0] == 0xDu);             /* CR1 = TE | RE | UE */
    g_usart[3] = 0;
    ek_uart_init();                        /* idempotent once enabled */
    CHECK(g_usart[3] == 0);
    ek_uart_putc('A');
    CHECK(g_usart[10] == 'A');             /* TDR */
    CHECK(!ek_uart_rx_ready());
    g_usart[9] = 'z';                      /* RDR */
    g_usart[7] |= 1u << 5;                 /* RXNE */
    CHECK(ek_uart_rx_ready() && ek_uart_getc() == 'z');
    g_usart[7] = (1u << 7) | (1u << 3);    /* overrun */
    CHECK(!ek_uart_rx_ready());
    CHECK(g_usart[8] == (1u << 3));        /* ICR.ORECF written */
    printf("ok\n");
    return 0;
}
"""


@pytest.mark.skipif(not have("gcc"), reason="not installed: gcc")
def test_stm32_driver_register_sequence_on_host(tmp_path):
    decl = tmp_path / "regs.h"
    decl.write_text("#include <stdint.h>\nextern uint32_t g_usart[16], g_rcc[64], g_gpio[16];\n")
    regs = tmp_path / "regs.c"
    regs.write_text("#include <stdint.h>\nuint32_t g_usart[16], g_rcc[64], g_gpio[16];\n")
    main = tmp_path / "main.c"
    main.write_text(HARNESS)
    plat = runtime_dir() / "platform"
    exe = tmp_path / "t"
    cmd = ["gcc", "-O1", "-std=gnu11", "-Wall", "-Werror", f"-I{plat}", "-include", str(decl),
           "-DEK_UART_STM32=1", "-DEK_UART_BRR=139u",
           "-DEK_UART_BASE=((uintptr_t)g_usart)", "-DEK_STM32_RCC_BASE=((uintptr_t)g_rcc)",
           "-DEK_STM32_GPIO_BASE=((uintptr_t)g_gpio)",
           str(plat / "ek_uart_stm32.c"), str(plat / "ek_uart_cmsdk.c"), str(plat / "ek_uart_format.c"),
           str(regs), str(main), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout
