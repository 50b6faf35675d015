// GGUF reading (io/gguf.h): GgufFile::open on arbitrary bytes, then every value and tensor of a file that opens
// (tensors decoded to float32 as the export check does). ASan sees any read outside the mapping.
#include "fuzz_util.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gt::fuzz::input_file("model.gguf", gt::fuzz::as_text(data, size));
  gt::fuzz::expect_input_errors([&] {
    const gt::io::GgufFile f = gt::io::GgufFile::open(path);
    for (const auto& [key, value] : f.metadata()) {
      (void)value.describe();
      if (!value.is_array() && value.type() != gt::io::GgufValueType::String) {
        if (value.type() == gt::io::GgufValueType::Float32 || value.type() == gt::io::GgufValueType::Float64)
          (void)value.as_double();
        else
          (void)value.as_int();
      }
    }
    for (const auto& t : f.tensors()) {
      const auto bytes = f.tensor_bytes(t);
      if (bytes.size() != t.nbytes) gt::fuzz::finding("tensor_bytes size differs from nbytes");
      (void)f.tensor_floats(t.name);
    }
  });
  return 0;
}
