/* CRC-32 and COBS for the rig's frames. Both are the textbook versions so the host can
 * check them against independent implementations (zlib.crc32, a plain COBS). */
#include "ek_hil.h"

uint32_t ek_hil_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    /* Bitwise CRC-32/IEEE (reflected, poly 0xEDB88320): no 1 KB table in RAM or flash;
     * the UART, not this loop, bounds the frame rate. */
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

void ek_hil_cobs_send(const uint8_t *p, size_t n)
{
    /* COBS: the data is cut into blocks of up to 254 non-zero bytes; each block is
     * preceded by a code byte = 1 + its length, and a code below 0xFF stands for a
     * zero after the block. The encoded frame then contains no 0x00, so 0x00 can
     * delimit frames and a receiver resynchronises at the next delimiter. */
    size_t start = 0;
    while (start <= n) {
        size_t end = start;
        while (end < n && p[end] != 0 && end - start < 254)
            end++;
        ek_hil_putc((uint8_t)(end - start + 1));
        for (size_t i = start; i < end; i++)
            ek_hil_putc(p[i]);
        if (end - start == 254) {
            /* A full block carries no implied zero; continue with the next byte. */
            start = end;
            if (start == n) {
                /* The frame ended exactly on a full block: nothing more to code. */
                break;
            }
        } else {
            start = end + 1; /* skip the zero the code byte stands for (or the end) */
        }
    }
    ek_hil_putc(0x00);
}
