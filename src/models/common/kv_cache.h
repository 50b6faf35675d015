// Keys and values of the decoder layers that own them, kept across the steps of one generation (transformers'
// DynamicCache: DynamicLayer for full-attention layers, DynamicSlidingWindowLayer for sliding ones).
//   - Only layers that compute their own keys/values hold any; KV-shared layers read their source layer's (the
//     layer stack hands them what the source's append returned: cached history + the step's tokens).
//   - Full layers keep every token. Sliding layers keep the last W - 1 tokens after each step: a later query at
//     position q sees keys q - W + 1 .. q, so anything older can never be read again.
//   - Positions are cache indices: token i of the sequence (padding included) sits at index i.
// Keys are stored after k_norm and RoPE, values after v_norm: what attention reads.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "io/model_config.h"

namespace gt::models {

class KvCache {
 public:
  explicit KvCache(const io::TextConfig& c);

  // Tokens processed so far: the cache index of the next token.
  int64_t length() const { return length_; }
  // First cache index the sliding layers still hold (0 for full layers).
  int64_t sliding_start() const { return sliding_start_; }

  // Appends layer l's keys/values of the current step [B, KV, T, hd] and returns what its attention reads:
  // the held history followed by them [B, KV, S, hd], S = length() + T - (sliding ? sliding_start() : 0).
  std::pair<at::Tensor, at::Tensor> append(int64_t l, const at::Tensor& k, const at::Tensor& v);
  // Ends a step of T tokens: length grows by T, sliding layers drop the keys no later query can see.
  void commit(int64_t T);
  // Keeps only batch rows `rows` (int64 indices), e.g. to drop finished sequences.
  void select_rows(const at::Tensor& rows);
  // Bytes held by keys and values.
  int64_t bytes() const;

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> kv_;  // per layer; undefined for KV-shared layers
  std::vector<bool> sliding_;
  int64_t window_ = 0;
  int64_t length_ = 0;
  int64_t sliding_start_ = 0;
};

}  // namespace gt::models
