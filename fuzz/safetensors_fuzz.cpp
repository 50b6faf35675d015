// safetensors header and layout checks (io/safetensors.h): SafetensorsFile::open on arbitrary bytes, then every
// tensor's view. A file that opens must keep each tensor's bytes inside the mapping; ASan sees a read outside it.
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gt::fuzz::input_file("model.safetensors", gt::fuzz::as_text(data, size));
  gt::fuzz::expect_input_errors([&] {
    auto file = gt::io::SafetensorsFile::open(path);
    for (const auto& t : file->tensors()) {
      const gt::io::TensorView v = file->view(t.name);
      int64_t bytes = 0;
      if (__builtin_mul_overflow(v.info.numel(), int64_t(gt::io::dtype_size(v.info.dtype)), &bytes) ||
          uint64_t(bytes) != v.info.nbytes())
        gt::fuzz::finding("a tensor's byte count does not match its shape");
      unsigned sum = 0;
      for (uint64_t i = 0; i < v.info.nbytes(); ++i) sum += unsigned(v.data[i]);
      (void)sum;
    }
    auto checkpoint = gt::io::Checkpoint::open(path);
    for (const auto& name : checkpoint.names()) (void)checkpoint.info(name);
  });
  return 0;
}
