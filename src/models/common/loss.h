// Next-token cross-entropy with the final logit soft-cap, without materialising full-vocabulary logits for the
// whole batch (a 262k vocabulary at 4 x 1024 tokens would need 4 GiB of float32 logits).
//
// Only positions whose next token is supervised (label != -100) are scored. Their hidden states are processed in
// chunks of rows: logits = h W^T, z = cap * tanh(logits / cap), loss = logsumexp(z) - z[target]. The gradient with
// respect to h is computed chunk by chunk in the forward pass (the loss is a scalar, so the backward pass only
// scales it), so the logits exist one chunk at a time and the output matmul runs twice, as in an unfused
// implementation. The output weight W is the frozen tied embedding: it gets no gradient.
// In float32 this equals transformers' loss (shifted labels, mean over supervised tokens); in bf16 the logits are
// rounded to bf16 after the matmul and through the soft-cap ops, as transformers does, and the reduction is in
// float32.
#pragma once

#include <torch/torch.h>

namespace gt::models {

struct LossSum {
  at::Tensor sum;      // 0-d float32: sum of token losses (differentiable w.r.t. hidden)
  int64_t tokens = 0;  // number of supervised tokens
};

// hidden [B, T, D], labels [B, T] (-100 = ignored; position t is scored against labels[t + 1]), weight [V, D].
// chunk_bytes bounds the float32 logits held at once (0: 16 MiB on the CPU, 256 MiB on accelerators); the loss
// holds at most twice that (loss.cpp says which buffers). The CUDA kernel holds only bf16 logits: twice the rows.
LossSum causal_lm_loss(const at::Tensor& hidden, const at::Tensor& labels, const at::Tensor& weight, double softcap,
                       int64_t chunk_bytes = 0);

// Off: the loss takes the composite ops on every device (benchmarks and tests compare the two). On by default: bf16
// CUDA runs of a build with gemma-tune's CUDA kernels (fused_loss_available) use kernels::softcap_cross_entropy_bf16.
void set_fused_loss(bool on);
bool fused_loss_available();

// Full logits with the soft-cap, [B, T, V] (tests, generation of one position at a time).
at::Tensor lm_logits(const at::Tensor& hidden, const at::Tensor& weight, double softcap);

}  // namespace gt::models
