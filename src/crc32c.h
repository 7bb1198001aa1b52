/* src/crc32c.h - CRC-32C (Castagnoli), for checking checkpoint files.
 *
 * On x86-64 with SSE4.2 the crc32 instruction does the work (chosen at run
 * time); elsewhere a portable slice-by-8 table does. Both give the same
 * results. Not a cryptographic hash: it finds accidents, not tampering.
 */
#ifndef PP_SRC_CRC32C_H
#define PP_SRC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, as iSCSI, ext4 and safetensors tooling use):
 * pp_crc32c(0, "123456789", 9) == 0xe3069283. Chained: the crc of a then b
 * is pp_crc32c(pp_crc32c(0, a, na), b, nb). */
uint32_t pp_crc32c(uint32_t crc, const void *data, size_t n);

/* The same by the portable table path only (for tests and comparisons). */
uint32_t pp_crc32c_sw(uint32_t crc, const void *data, size_t n);

#endif
