// Reading parity fixtures (safetensors written by the tools/make_*_fixtures.py scripts) and comparing tensors, for
// the torch tests. Differences are taken in float64 on the CPU (MPS has no float64; results may be on a GPU).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "data/batching.h"
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

// Rows `rows` of a whole-model fixture's input_ids / attention_mask / labels (right padded) as a data::Batch, each cut
// to its real length; the caller adds the rows' media.
inline data::Batch fixture_batch(const std::map<std::string, at::Tensor>& in, const std::vector<int64_t>& rows) {
  const at::Tensor ids = in.at("input_ids"), mask = in.at("attention_mask"), labels = in.at("labels");
  data::Batch b;
  b.batch_size = static_cast<int64_t>(rows.size());
  for (int64_t r : rows) b.seq_len = std::max(b.seq_len, mask[r].sum().item<int64_t>());
  b.input_ids.assign(b.batch_size * b.seq_len, 0);
  b.labels.assign(b.batch_size * b.seq_len, data::kIgnoreIndex);
  b.attention_mask.assign(b.batch_size * b.seq_len, 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t n = mask[rows[i]].sum().item<int64_t>();
    for (int64_t t = 0; t < n; ++t) {
      b.input_ids[i * b.seq_len + t] = ids[rows[i]][t].item<int64_t>();
      b.labels[i * b.seq_len + t] = labels[rows[i]][t].item<int64_t>();
      b.attention_mask[i * b.seq_len + t] = 1;
    }
    b.real_tokens += n;
  }
  return b;
}

}  // namespace gt::test
