// A rough estimate of a training run's peak memory and duration on this machine, for `wizard`: sizes from the
// model folder's safetensors headers and config.json (no weights are read), the run's settings and the dataset's
// token count. It is a rule of thumb whose assumptions are printed with it, not a measurement.
//
// Memory on the run's device (bytes; s = bytes of an element in the run's dtype, 2 for bf16, 4 for float32):
//   weights      every decoder tensor and the modality's towers at s bytes an element, except Gemma's per-layer
//                embedding table, which stays in host memory off the CPU; with --quantize, the decoder's 2-D layer
//                weights with >= 64 inputs at 1 byte (int8) or 0.5 byte (nf4) an element plus their float32 scales
//   lora         16 bytes a LoRA parameter: float32 weight, gradient and AdamW's two moments; r·(in + out) for each
//                targeted linear
//   activations  what the backward pass keeps, per token of the longest batch (B·T, T = the longest example, at
//                most max_seq_len; max_seq_len when packing): s·(kActD·D + kActF·F_l) summed over the layers
//                (D hidden size, F_l layer l's MLP width; Gemma 3n adds its 3 more AltUp streams, s·3·D a layer);
//                with --gradient-checkpointing only the layers' inputs s·D·L (x4 streams for Gemma 3n) plus one
//                layer's full activations
//   loss         the chunked cross-entropy: 3 chunks of min(B·T·V·4, 256 MiB) float32 logits on accelerators
//                (16 MiB on the CPU) and the float32 gradient of the last hidden states, B·T·D·4
//   fixed        2 GiB on accelerators, 0.2 GiB on the CPU (where the peak is the process's resident set)
// kActD, kActF and the fixed part are fitted to peaks measured on an H100 (run_estimate.cpp says which).
// Time: tokens x FLOPs a token / sustained FLOP/s. FLOPs a token = 2·N·(2 + recompute), N the decoder's matmul
// parameters (the layers' 2-D weights and the output projection): LoRA training runs the frozen weights forward
// (2N) and back to the activations only (2N; no weight gradients), plus another forward with checkpointing.
// Attention scores, the towers and padding are not counted. Sustained FLOP/s is per device kind (a table in
// run_estimate.cpp, measured where the table says so, guessed elsewhere).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/train_config.h"

namespace gt::train {

// What the dataset says; zeros when it has not been read (a streamed dataset).
struct DatasetTokens {
  int64_t tokens = 0;    // tokens of the train split's examples (soft tokens of media included)
  int64_t examples = 0;  // examples of the train split
  int64_t longest = 0;   // tokens of the longest example
};

struct RunEstimate {
  std::string device;         // the resolved --device ("cuda:0", "cpu")
  std::string device_label;   // "cuda:0 NVIDIA H100 80GB HBM3 (79.1 GiB)"
  uint64_t device_memory = 0;  // bytes the device has (the system's memory for cpu and mps); 0 unknown
  uint64_t weights = 0, host_weights = 0, lora = 0, activations = 0, loss = 0, fixed = 0;
  uint64_t total = 0;          // on the device
  int64_t lora_params = 0;
  int64_t matmul_params = 0;   // N of the time formula
  int64_t batch_tokens = 0;    // B·T of the memory formula
  double run_tokens = 0;       // tokens the run trains on (0: unknown)
  double flops_per_token = 0;
  double sustained_flops = 0;  // FLOP/s assumed for this device
  std::string throughput_basis;  // where that figure comes from
  double tokens_per_s = 0;
  double seconds = 0;          // 0: unknown (streamed data without a token count)
};

// Throws gt::InputError when the model folder cannot be read or the device is not available.
RunEstimate estimate_run(const TrainConfig& cfg, const DatasetTokens& data);

// The estimate as lines for a person, assumptions included.
std::vector<std::string> describe_estimate(const RunEstimate& e, const TrainConfig& cfg);

}  // namespace gt::train
