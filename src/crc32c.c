/* src/crc32c.c - CRC-32C: the SSE4.2 crc32 instruction on three interleaved
 * streams where the CPU has it, slice-by-8 tables everywhere (see
 * crc32c.h). */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define POLY 0x82f63b78u /* Castagnoli, bit-reflected */

static uint32_t sw_table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
#include <nmmintrin.h>

/* Each of the three streams runs over BLOCK bytes; shift_table advances a
 * crc register over BLOCK zero bytes, to join the streams. */
#define BLOCK 512
static uint32_t shift_table[4][256];
static int use_hw;

static uint32_t shift(uint32_t r)
{
    return shift_table[0][r & 0xff] ^ shift_table[1][(r >> 8) & 0xff] ^
           shift_table[2][(r >> 16) & 0xff] ^ shift_table[3][r >> 24];
}

/* The register is linear in its bits: shift each bit by BLOCK zero bytes,
 * then combine them into byte tables. */
__attribute__((target("sse4.2"))) static void init_hw(void)
{
    uint32_t bit[32];
    for (int k = 0; k < 32; k++) {
        uint64_t r = 1u << k;
        for (int i = 0; i < BLOCK / 8; i++)
            r = _mm_crc32_u64(r, 0);
        bit[k] = (uint32_t)r;
    }
    for (int j = 0; j < 4; j++)
        for (int b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int k = 0; k < 8; k++)
                if (b >> k & 1)
                    v ^= bit[8 * j + k];
            shift_table[j][b] = v;
        }
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t r0 = ~crc;
    uint64_t w0, w1, w2;
    for (; n >= 3 * BLOCK; n -= 3 * BLOCK, p += 3 * BLOCK) {
        uint64_t r1 = 0, r2 = 0;
        for (size_t i = 0; i < BLOCK; i += 8) {
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + BLOCK + i, 8);
            memcpy(&w2, p + 2 * BLOCK + i, 8);
            r0 = _mm_crc32_u64(r0, w0);
            r1 = _mm_crc32_u64(r1, w1);
            r2 = _mm_crc32_u64(r2, w2);
        }
        r0 = shift(shift((uint32_t)r0) ^ (uint32_t)r1) ^ (uint32_t)r2;
    }
    for (; n >= 8; n -= 8, p += 8) {
        memcpy(&w0, p, 8);
        r0 = _mm_crc32_u64(r0, w0);
    }
    uint32_t r = (uint32_t)r0;
    while (n--)
        r = _mm_crc32_u8(r, *p++);
    return ~r;
}
#endif

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        sw_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            sw_table[t][i] = (sw_table[t - 1][i] >> 8) ^
                             sw_table[0][sw_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
    if (use_hw)
        init_hw();
#endif
}

/* Little-endian 32-bit word at p, on any host. */
static uint32_t le32(const unsigned char *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint32_t pp_crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&once, init);
    const unsigned char *p = data;
    uint32_t r = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = r ^ le32(p), hi = le32(p + 4);
        r = sw_table[7][lo & 0xff] ^ sw_table[6][(lo >> 8) & 0xff] ^
            sw_table[5][(lo >> 16) & 0xff] ^ sw_table[4][lo >> 24] ^
            sw_table[3][hi & 0xff] ^ sw_table[2][(hi >> 8) & 0xff] ^
            sw_table[1][(hi >> 16) & 0xff] ^ sw_table[0][hi >> 24];
    }
    while (n--)
        r = (r >> 8) ^ sw_table[0][(r ^ *p++) & 0xff];
    return ~r;
}

uint32_t pp_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&once, init);
#if defined(__x86_64__)
    if (use_hw)
        return crc_hw(crc, data, n);
#endif
    return pp_crc32c_sw(crc, data, n);
}
