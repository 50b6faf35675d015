// CRC-32C (Castagnoli) and the `x-goog-hash` header that carries it. Torch-free.
//
// Google Cloud Storage reports every object's CRC-32C in its listing (`crc32c`) and in download replies
// (`x-goog-hash: crc32c=<b64>,md5=<b64>`); a streamed shard is checked against it as its bytes arrive. Debian ships
// no CRC-32C library, so it is written here: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF
// (RFC 3720 section 12.1 and appendix B.4, the iSCSI checksum). It is not zlib's crc32 (polynomial 0xEDB88320).
//
// Speed: the SSE4.2 `crc32` instruction where the CPU has it (checked once at run time, x86-64 only), otherwise
// slicing-by-8 tables (eight bytes per step, no data-dependent branches).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gt::io {

// Incremental CRC-32C: start from crc = 0 and feed the pieces in order; each call returns the CRC-32C of everything
// fed so far (the value is final after every call, so no separate finish step):
//   uint32_t c = 0; c = crc32c_update(c, a, na); c = crc32c_update(c, b, nb);   // == crc32c(a + b)
uint32_t crc32c_update(uint32_t crc, const void* data, size_t n);
// One shot: crc32c_update(0, s.data(), s.size()). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view s);

// The table-driven path alone, whatever the CPU (for tests that compare it with the hardware path, and timings).
uint32_t crc32c_update_portable(uint32_t crc, const void* data, size_t n);
// Whether crc32c_update uses the CPU's crc32 instruction on this machine.
bool crc32c_hardware();

// Standard base64 (RFC 4648 section 4: alphabet A-Z a-z 0-9 + /, '=' padding), as GCS writes hashes.
std::string base64_encode(const void* data, size_t n);
// Inverse of base64_encode; nullopt unless `text` is padded standard base64 (length a multiple of 4, no spaces).
std::optional<std::string> base64_decode(std::string_view text);

// The value GCS gives a CRC-32C: base64 of its 4 bytes in big-endian order ("crc32c=" not included), e.g.
// crc32c("hello world") = 0xC99465AA -> "yZRlqg==".
std::string gcs_crc32c_header_value(uint32_t crc);
// Finds the `crc32c=` item in an x-goog-hash header value ("crc32c=yZRlqg==,md5=XrY7u+Ae7tCTyyK7j1rNww==";
// items separated by commas, optional spaces around them, key case-insensitive) and returns the CRC it encodes.
// nullopt when there is no crc32c item or its value is not base64 of exactly 4 bytes.
std::optional<uint32_t> parse_gcs_crc32c(std::string_view x_goog_hash_header);

}  // namespace gt::io
