// Reading parity fixtures (safetensors written by the tools/make_*_fixtures.py scripts) and comparing tensors, for
// the torch tests. Differences are taken in float64 on the CPU (MPS has no float64; results may be on a GPU).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "io/safetensors.h"
#include "io/safetensors_torch.h"

namespace gt::test {

// Every tensor of a safetensors file, by name.
inline std::map<std::string, at::Tensor> read_all(const std::filesystem::path& p) {
  io::Checkpoint c = io::Checkpoint::open(p.string());
  std::map<std::string, at::Tensor> out;
  for (const auto& n : c.names()) out[n] = io::load_tensor(c, n).clone();
  return out;
}

inline double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

inline double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.cpu().to(at::kDouble) - b.cpu().to(at::kDouble)).abs().max().item<double>();
}

}  // namespace gt::test
