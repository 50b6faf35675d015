#include "models/common/loss.h"

#include <algorithm>
#include <atomic>

#include "models/common/ops.h"

#if defined(GT_HAS_CUDA_KERNELS)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/softcap_cross_entropy.h"
#endif

namespace gt::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<bool> g_fused_loss{true};

// The CUDA kernel's case: bf16 logits on a CUDA device of a build that compiled the kernel.
bool use_fused_loss(const at::Tensor& rows, const at::Tensor& weight) {
#if defined(GT_HAS_CUDA_KERNELS)
  return g_fused_loss.load(std::memory_order_relaxed) && rows.is_cuda() && rows.scalar_type() == at::kBFloat16 &&
         weight.scalar_type() == at::kBFloat16;
#else
  (void)rows, (void)weight;
  return false;
#endif
}

#if defined(GT_HAS_CUDA_KERNELS)
// loss_and_grad through kernels::softcap_cross_entropy_bf16: the bf16 logits of a chunk are the only [n, V] buffer,
// and the kernel turns them into the gradient in place.
std::pair<at::Tensor, at::Tensor> fused_loss_and_grad(const at::Tensor& rows, const at::Tensor& weight,
                                                      const at::Tensor& targets, double softcap, int64_t chunk,
                                                      bool need_grad) {
  const int64_t N = rows.size(0), V = weight.size(0);
  const auto f32 = rows.options().dtype(at::kFloat);
  at::Tensor lse = torch::empty({N}, f32), picked = torch::empty({N}, f32);
  at::Tensor grad = need_grad ? torch::empty_like(rows, at::MemoryFormat::Contiguous) : at::Tensor();
  at::Tensor tgt = targets.contiguous();
  const c10::cuda::CUDAGuard on_device(rows.device());  // the kernel launches on the current device
  void* stream = c10::cuda::getCurrentCUDAStream(rows.device().index()).stream();
  for (int64_t s = 0; s < N; s += chunk) {
    const int64_t e = std::min(N, s + chunk);
    at::Tensor logits = at::matmul(rows.slice(0, s, e), weight.t()).contiguous();  // [n, V] bf16
    kernels::softcap_cross_entropy_bf16(logits.data_ptr(), e - s, V, tgt.data_ptr<int64_t>() + s,
                                        static_cast<float>(softcap), lse.data_ptr<float>() + s,
                                        picked.data_ptr<float>() + s, need_grad, stream);
    if (need_grad) {
      at::Tensor out = grad.slice(0, s, e);  // contiguous rows: the matmul writes there directly
      at::mm_out(out, logits, weight);       // logits now hold d loss / d logits
    }
  }
  return {(lse - picked).sum(), grad};
}
#endif

// Rows of hidden states -> (sum of losses, d sum / d rows), chunk by chunk. With n rows a chunk and V classes the
// chunk holds at most 8nV bytes at once in bf16 runs (bf16 tanh of the logits, bf16 capped logits, their float32
// copy; the capped logits are dropped before the float32 gradient is rounded back to bf16) and 4nV-8nV in float32:
// every [n, V] op after the matmul works in place, and the derivative of the cap is applied in row blocks so its
// float32 temporary stays small.
std::pair<at::Tensor, at::Tensor> loss_and_grad(const at::Tensor& rows, const at::Tensor& weight,
                                                const at::Tensor& targets, double softcap, int64_t chunk,
                                                bool need_grad) {
  const int64_t N = rows.size(0);
  at::Tensor total = torch::zeros({}, rows.options().dtype(at::kFloat));
  at::Tensor grad = need_grad ? torch::empty_like(rows) : at::Tensor();
  for (int64_t s = 0; s < N; s += chunk) {
    const int64_t e = std::min(N, s + chunk);
    at::Tensor t = at::matmul(rows.slice(0, s, e), weight.t());  // [n, V] logits, rounded to the activation dtype as in HF
    at::Tensor zf;  // float32 capped logits
    if (softcap > 0) {
      t.div_(softcap).tanh_();  // t = tanh(logits / cap), kept for the derivative of the cap
      // z = cap * t, rounded to the activation dtype as transformers does before its float32 cross-entropy
      zf = t.scalar_type() == at::kFloat ? t * softcap : (t * softcap).to(at::kFloat);
    } else {
      zf = t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
    }
    at::Tensor lse = at::logsumexp(zf, -1);  // [n]
    at::Tensor tgt = targets.slice(0, s, e).unsqueeze(1);
    total.add_((lse - zf.gather(1, tgt).squeeze(1)).sum());
    if (!need_grad) continue;
    // d loss / d z = softmax(z) - onehot(target), in place over the float32 capped logits.
    at::Tensor dz = zf.sub_(lse.unsqueeze(1)).exp_();
    dz.scatter_add_(1, tgt, torch::full({e - s, 1}, -1.0f, dz.options()));
    // d z / d logits = 1 - tanh^2, in float32 (as autograd does it on float32 logits), in place: tanh_backward
    // promotes t to dz's float32 element by element, one kernel and no temporary (it was five kernels a block of 16
    // rows, ~1,300 launches a Gemma step).
    if (softcap > 0) at::tanh_backward_out(dz, dz, t);
    t = at::Tensor();
    grad.slice(0, s, e).copy_(at::matmul(dz.scalar_type() == weight.scalar_type() ? dz : dz.to(weight.scalar_type()), weight));
  }
  return {total, grad};
}

struct ChunkedSoftcapCE : public torch::autograd::Function<ChunkedSoftcapCE> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, const at::Tensor& weight,
                            const at::Tensor& targets, double softcap, int64_t chunk, bool fused) {
    torch::NoGradGuard no_grad;
#if defined(GT_HAS_CUDA_KERNELS)
    auto [total, grad] = fused ? fused_loss_and_grad(rows, weight, targets, softcap, chunk, rows.requires_grad())
                               : loss_and_grad(rows, weight, targets, softcap, chunk, rows.requires_grad());
#else
    (void)fused;
    auto [total, grad] = loss_and_grad(rows, weight, targets, softcap, chunk, rows.requires_grad());
#endif
    ctx->save_for_backward({grad});
    return total;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    at::Tensor grad = ctx->get_saved_variables()[0];
    at::Tensor g = grad.defined() ? grad * grad_out[0].to(grad.scalar_type()) : at::Tensor();
    return {g, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

LossSum causal_lm_loss(const at::Tensor& hidden, const at::Tensor& labels, const at::Tensor& weight, double softcap,
                       int64_t chunk_bytes) {
  const int64_t D = hidden.size(-1), V = weight.size(0);
  at::Tensor next = labels.slice(1, 1).to(hidden.device());           // [B, T-1]
  at::Tensor h = hidden.slice(1, 0, hidden.size(1) - 1).reshape({-1, D});  // [B*(T-1), D]
  at::Tensor flat = next.reshape({-1});
  at::Tensor keep = (flat != -100).nonzero().squeeze(1);
  LossSum out;
  out.tokens = keep.numel();
  if (out.tokens == 0) {
    out.sum = (hidden.sum() * 0).to(at::kFloat);  // keeps the graph connected
    return out;
  }
  at::Tensor rows = h.index_select(0, keep);
  at::Tensor targets = flat.index_select(0, keep).to(at::kLong);
  // On the CPU small chunks keep the [chunk, V] buffers below glibc's mmap threshold, so they are reused
  // instead of being faulted in afresh for every chunk; accelerators have caching allocators, and 256 MiB of float32
  // logits (256 rows of a 262k vocabulary) keeps the output matmul large enough to run at full speed while the
  // loss holds at most 0.5 GiB.
  if (chunk_bytes <= 0) chunk_bytes = hidden.device().is_cpu() ? (16ll << 20) : (256ll << 20);
  // The CUDA kernel holds only the bf16 logits of a chunk: twice the rows in the same bytes. Decided once, so the
  // chunk size and the path agree even if set_fused_loss runs meanwhile.
  const bool fused = use_fused_loss(rows, weight);
  const int64_t chunk = std::max<int64_t>(1, chunk_bytes / (V * (fused ? 2 : 4)));
  out.sum = ChunkedSoftcapCE::apply(rows, weight, targets, softcap, chunk, fused);
  return out;
}

void set_fused_loss(bool on) { g_fused_loss = on; }

bool fused_loss_available() {
#if defined(GT_HAS_CUDA_KERNELS)
  return true;
#else
  return false;
#endif
}

at::Tensor lm_logits(const at::Tensor& hidden, const at::Tensor& weight, double softcap) {
  return soft_cap(at::matmul(hidden, weight.t()), softcap);
}

}  // namespace gt::models
