#include "models/common/attention.h"

#include <atomic>
#include <limits>

#include "core/error.h"
#include "core/torch_compat.h"
#include "models/common/grouped_attention.h"

namespace gt::models {

AttentionMasks::AttentionMasks(const at::Tensor& attention_mask, int64_t batch, int64_t seq_len, int64_t sliding_window,
                               at::ScalarType dtype, at::Device device, int64_t past, int64_t sliding_start,
                               const at::Tensor& segment_ids)
    : batch_(batch),
      seq_(seq_len),
      window_(sliding_window),
      past_(past),
      sliding_start_(sliding_start),
      dtype_(dtype),
      device_(device) {
  if (attention_mask.defined()) {
    at::Tensor m = attention_mask.to(device).to(at::kBool);
    if (!m.all().item<bool>()) padding_ = m;
  }
  if (segment_ids.defined()) {
    GT_CHECK(past == 0, "packed rows (segment_ids) with a KV cache");
    GT_CHECK(segment_ids.dim() == 2 && segment_ids.size(0) == batch && segment_ids.size(1) == seq_len,
             "segment_ids of shape ", segment_ids.sizes(), ", expected [", batch, ", ", seq_len, "]");
    segments_ = segment_ids.to(device).to(at::kLong);
  }
}

at::Tensor AttentionMasks::build(int64_t key_start, bool window) const {
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device_);
  const int64_t end = past_ + seq_;
  at::Tensor q = torch::arange(past_, end, opts).view({seq_, 1});
  at::Tensor k = torch::arange(key_start, end, opts).view({1, end - key_start});
  at::Tensor visible = k <= q;  // causal
  if (window) visible = visible & (k > q - window_);
  visible = visible.view({1, 1, seq_, end - key_start});
  if (padding_.defined()) visible = visible & padding_.slice(1, key_start, end).view({batch_, 1, 1, end - key_start});
  if (segments_.defined()) {  // same document, and not padding (past == 0 here, so keys are positions key_start..)
    at::Tensor sk = segments_.slice(1, key_start, end);
    visible = visible & (segments_.view({batch_, 1, seq_, 1}) == sk.view({batch_, 1, 1, end - key_start})) &
              (sk != 0).view({batch_, 1, 1, end - key_start});
  }
  at::Tensor zero = torch::zeros({}, at::TensorOptions().dtype(dtype_).device(device_));
  at::Tensor lowest = torch::full({}, torch_compat::lowest(dtype_), at::TensorOptions().dtype(dtype_).device(device_));
  return at::where(visible, zero, lowest).expand({batch_, 1, seq_, end - key_start});
}

at::Tensor AttentionMasks::for_layer(bool sliding) {
  const int64_t key_start = sliding ? sliding_start_ : 0;
  const int64_t keys = past_ + seq_ - key_start;
  // The oldest key is out of the newest query's window only when the span is longer than the window.
  const bool window_matters = sliding && window_ > 0 && keys > window_;
  const bool plain_causal = keys == seq_ || seq_ == 1;
  if (!window_matters && !padding_.defined() && !segments_.defined() && plain_causal && fused_attention_available())
    return {};
  // Without a cut or a different key span a sliding layer reads exactly what a full layer does.
  const bool own = window_matters || key_start != 0;
  at::Tensor& cached = own ? sliding_ : full_;
  if (!cached.defined()) cached = build(own ? key_start : 0, window_matters);
  return cached;
}

namespace {
// K or V [B, KV, S, hd] with each head repeated `rep` times next to itself ([B, KV * rep, S, hd], query head h reading
// K/V head h / rep), as transformers' repeat_kv: expand and one copy. repeat_interleave with an integer count makes the
// count a tensor and reads the output size back from it (a host-device synchronisation per call: 32 a tiny Gemma 4
// step; on MPS each one waits for the queue to drain), and its backward pass is an index_add into zeros where this
// one's is a sum over the repeats.
at::Tensor repeated_kv(const at::Tensor& t, int64_t rep) {
  if (rep == 1) return t;
  const int64_t B = t.size(0), KV = t.size(1), S = t.size(2), hd = t.size(3);
  return t.unsqueeze(2).expand({B, KV, rep, S, hd}).reshape({B, KV * rep, S, hd});
}
}  // namespace

at::Tensor attention_composite(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                               double scale) {
  const int64_t rep = q.size(1) / k.size(1);
  const at::Tensor kk = repeated_kv(k, rep), vv = repeated_kv(v, rep);
  at::Tensor scores = at::matmul(q, kk.transpose(-1, -2));
  if (scale != 1.0) scores = scores * scale;
  if (mask.defined()) {
    scores = scores + mask;
  } else {
    const int64_t T = q.size(2), S = k.size(2);
    at::Tensor causal = torch::ones({T, S}, at::TensorOptions().dtype(at::kBool).device(q.device())).tril(S - T);
    scores = scores.masked_fill(~causal, torch_compat::lowest(scores.scalar_type()));
  }
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, vv);
}

namespace {
std::atomic<int64_t> g_composite_above{-1};  // -1: widest_fused_head()'s default
std::atomic<bool> g_sdpa_gqa{true};

// CUDA's flash and cuDNN kernels take heads up to 256 wide; wider ones went to the memory-efficient kernel, which was
// the slowest attention of a Gemma 4 step. Elsewhere (MPS) SDPA keeps every layer.
[[maybe_unused]] int64_t widest_fused_head(const at::Tensor& q) {
  const int64_t set = g_composite_above.load(std::memory_order_relaxed);
  if (set >= 0) return set;
  return q.is_cuda() ? 256 : std::numeric_limits<int64_t>::max();
}
}  // namespace

void set_composite_attention_above(int64_t head_dim) { g_composite_above = head_dim; }
void set_sdpa_gqa(bool on) { g_sdpa_gqa = on; }

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, double scale) {
#if GT_HAS_FUSED_SDPA
  if (q.size(-1) > widest_fused_head(q)) return attention_grouped(q, k, v, mask, scale);
  const int64_t rep = q.size(1) / k.size(1);
  // SDPA's is_causal aligns the mask top-left, right only for T == S; one query (a decoding step) sees every key.
  const bool causal = !mask.defined() && q.size(2) > 1;
  const std::optional<at::Tensor> m = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;
#if GT_HAS_SDPA_GQA
  // Shared K/V heads read in place (cuDNN and flash kernels group the query heads themselves): no repeated copies
  // and no reduction of their gradients. On an H100 a Gemma 4 sliding layer (8 heads on 1, hd 256, 4 x 1024) ran
  // forward + backward in 0.74 ms against 0.93 ms with repeated K/V (tools/device/sdpa_probe.py). Only on CUDA and
  // for head dims the fused kernels take: wider heads, and other devices, would fall back to the math kernel.
  if (rep > 1 && q.is_cuda() && q.size(-1) <= 256 && g_sdpa_gqa.load(std::memory_order_relaxed))
    return at::scaled_dot_product_attention(q, k, v, m, /*dropout_p=*/0.0, causal, scale, /*enable_gqa=*/true);
#endif
  const at::Tensor kk = repeated_kv(k, rep), vv = repeated_kv(v, rep);
  return at::scaled_dot_product_attention(q, kk, vv, m, /*dropout_p=*/0.0, causal, scale);
#else
  return attention_composite(q, k, v, mask, scale);
#endif
}

bool fused_attention_available() { return GT_HAS_FUSED_SDPA; }

namespace {
thread_local AttentionCapture* t_capture = nullptr;
}

AttentionCapture::AttentionCapture(int64_t layer) : layer_(layer), outer_(t_capture) { t_capture = this; }
AttentionCapture::~AttentionCapture() { t_capture = outer_; }

void AttentionCapture::offer(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& mask,
                             double scale) {
  AttentionCapture* c = t_capture;
  if (!c || layer != c->layer_) return;
  at::NoGradGuard no_grad;
  // The same scores as attention_composite, in float32, for the first row only.
  const at::Tensor q0 = q.slice(0, 0, 1).to(at::kFloat), k0 = k.slice(0, 0, 1).to(at::kFloat);
  const int64_t rep = q0.size(1) / k0.size(1);
  at::Tensor scores = at::matmul(q0, repeated_kv(k0, rep).transpose(-1, -2)) * scale;
  const int64_t T = q0.size(2), S = k0.size(2);
  if (mask.defined()) {
    scores = scores.masked_fill(mask.slice(0, 0, 1) < 0, -std::numeric_limits<float>::infinity());
  } else {
    at::Tensor causal = torch::ones({T, S}, at::TensorOptions().dtype(at::kBool).device(q.device())).tril(S - T);
    scores = scores.masked_fill(~causal, -std::numeric_limits<float>::infinity());
  }
  c->probs_ = at::softmax(scores, -1).nan_to_num(0.0).mean(1).squeeze(0).cpu();  // [T, S]
}

}  // namespace gt::models
