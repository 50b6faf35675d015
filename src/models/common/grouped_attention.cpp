#include "models/common/grouped_attention.h"

#include <algorithm>

#include "core/torch_compat.h"

namespace gt::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Dims {
  int64_t B, H, KV, rep, T, S, D;
};

Dims dims_of(const at::Tensor& q, const at::Tensor& k) {
  return {q.size(0), q.size(1), k.size(1), q.size(1) / k.size(1), q.size(2), k.size(2), q.size(3)};
}

// Query rows [t0, t1) of every head, the heads of one K/V head side by side: [B, KV, rep * c, hd] (a small copy).
at::Tensor query_rows(const at::Tensor& q, const Dims& d, int64_t t0, int64_t t1) {
  return q.reshape({d.B, d.KV, d.rep, d.T, d.D}).slice(3, t0, t1).reshape({d.B, d.KV, d.rep * (t1 - t0), d.D});
}

// Their float32 scores against every key, [B, KV, rep, c, S]: the matmul, the scale and the mask in the model dtype
// as the eager path does them (mask: [B or 1, 1, T, S] additive, or empty for causal with the queries at the end of
// the keys), then one cast.
at::Tensor chunk_scores(const at::Tensor& qc, const at::Tensor& k, const at::Tensor& mask, double scale, const Dims& d,
                        int64_t t0, int64_t t1) {
  at::Tensor s = at::matmul(qc, k.transpose(-1, -2));
  if (scale != 1.0) s.mul_(scale);
  s = s.view({d.B, d.KV, d.rep, t1 - t0, d.S});
  if (mask.numel() > 0) {
    s.add_(mask.slice(2, t0, t1).unsqueeze(2));
  } else {
    const auto idx = at::TensorOptions().dtype(at::kLong).device(s.device());
    const at::Tensor last_key = torch::arange(t0, t1, idx).unsqueeze(1) + (d.S - d.T);  // row t sees keys <= t + S - T
    s.masked_fill_(torch::arange(d.S, idx).unsqueeze(0) > last_key, torch_compat::lowest(s.scalar_type()));
  }
  return s.to(at::kFloat);
}

struct GroupedAttention : public torch::autograd::Function<GroupedAttention> {
  // mask: empty for causal (libtorch's Function::apply takes no undefined tensors); chunk: query rows a step.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& mask, double scale, int64_t chunk) {
    const Dims d = dims_of(q, k);
    at::Tensor out = at::empty({d.B, d.H, d.T, d.D}, q.options());
    at::Tensor lse = at::empty({d.B, d.KV, d.rep, d.T}, q.options().dtype(at::kFloat));
    at::Tensor out5 = out.view({d.B, d.KV, d.rep, d.T, d.D});
    for (int64_t t0 = 0; t0 < d.T; t0 += chunk) {
      const int64_t t1 = std::min(d.T, t0 + chunk), c = t1 - t0;
      at::Tensor s = chunk_scores(query_rows(q, d, t0, t1), k, mask, scale, d, t0, t1);
      at::Tensor m = at::logsumexp(s, -1, /*keepdim=*/true);
      at::Tensor p = s.sub_(m).exp_().to(q.scalar_type()).view({d.B, d.KV, d.rep * c, d.S});
      out5.slice(3, t0, t1).copy_(at::matmul(p, v).view({d.B, d.KV, d.rep, c, d.D}));
      lse.slice(3, t0, t1).copy_(m.squeeze(-1));
    }
    ctx->save_for_backward({q, k, v, mask, lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["chunk"] = chunk;
    return out;
  }

  // Per chunk: p recomputed from the saved log-sum-exp; dV += p^T dO; dP = dO V^T; softmax's backward in float32,
  // dS = p (dP - sum(p dP)), rounded to the model dtype as the eager path's gradient of its bf16 scores is; dQ = dS K;
  // dK += dS^T Q. dK and dV add up over chunks in float32 and are rounded once.
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &mask = saved[3], &lse = saved[4];
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const Dims d = dims_of(q, k);
    const at::Tensor g5 = grad_out[0].reshape({d.B, d.KV, d.rep, d.T, d.D});
    at::Tensor dq = at::empty({d.B, d.H, d.T, d.D}, q.options());
    at::Tensor dq5 = dq.view({d.B, d.KV, d.rep, d.T, d.D});
    at::Tensor dk = at::zeros(k.sizes(), k.options().dtype(at::kFloat));
    at::Tensor dv = at::zeros(v.sizes(), v.options().dtype(at::kFloat));
    for (int64_t t0 = 0; t0 < d.T; t0 += chunk) {
      const int64_t t1 = std::min(d.T, t0 + chunk), c = t1 - t0;
      const at::Tensor qc = query_rows(q, d, t0, t1);
      at::Tensor pf = chunk_scores(qc, k, mask, scale, d, t0, t1).sub_(lse.slice(3, t0, t1).unsqueeze(-1)).exp_();
      const at::Tensor p = pf.to(q.scalar_type()).view({d.B, d.KV, d.rep * c, d.S});
      const at::Tensor gc = g5.slice(3, t0, t1).reshape({d.B, d.KV, d.rep * c, d.D});
      dv.add_(at::matmul(p.transpose(-1, -2), gc));
      const at::Tensor dp = at::matmul(gc, v.transpose(-1, -2)).view({d.B, d.KV, d.rep, c, d.S}).to(at::kFloat);
      at::Tensor ds = (dp - (dp * pf).sum(-1, /*keepdim=*/true)).mul_(pf).to(q.scalar_type());
      if (scale != 1.0) ds.mul_(scale);
      ds = ds.view({d.B, d.KV, d.rep * c, d.S});
      dq5.slice(3, t0, t1).copy_(at::matmul(ds, k).view({d.B, d.KV, d.rep, c, d.D}));
      dk.add_(at::matmul(ds.transpose(-1, -2), qc));
    }
    return {dq, dk.to(k.scalar_type()), dv.to(v.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor attention_grouped(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                             double scale, int64_t chunk_bytes) {
  const Dims d = dims_of(q, k);
  const int64_t row_bytes = d.B * d.H * d.S * 4;  // one query row of float32 scores, every head
  const int64_t chunk = std::clamp<int64_t>(chunk_bytes / std::max<int64_t>(1, row_bytes), 1, std::max<int64_t>(1, d.T));
  return GroupedAttention::apply(q, k, v, mask.defined() ? mask : at::empty({0}, q.options()), scale, chunk);
}

}  // namespace gt::models
