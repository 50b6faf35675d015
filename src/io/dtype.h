// Element types of tensors as files store them (safetensors names). Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gt::io {

enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// "F32", "BF16", ... as written in safetensors headers.
std::string_view dtype_name(DType t);
// Bytes per element.
size_t dtype_size(DType t);
// Parses a safetensors dtype name; nullopt for names gemma-tune does not read (e.g. F8_E4M3).
std::optional<DType> parse_dtype(std::string_view name);

}  // namespace gt::io
