#include "models/common/lora_linear.h"

#include <cmath>
#include <stdexcept>

#include "models/common/flat_parameters.h"

namespace gt::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The adapter path scaling * B(A(dropout(float(x)))) with lean saved state. Plain autograd would keep float(x) (or its
// dropped copy) for A's gradient: a float32 copy of every adapted layer's input, three of the same input for q, k and
// v, and one 4 bytes an element of the MLP's wide down_proj input. This keeps x as it came (usually an activation the
// layer holds anyway, shared by q/k/v and gate/up), the dropout mask as bytes, and the [N, r] A output, and redoes the
// float cast in the backward pass. Same numbers as the autograd formulation: the float cast of x is exact.
// The sum with the base output y is part of it: float(y) + scaling * (a B^T) is one addmm (the scaling and the add
// in the matmul's epilogue) instead of a float32 delta, a float32 copy of y and their sum, each [N, out]; PEFT's order
// (float32 sum, one rounding back to y's dtype) is kept, with float32 rounding differences only.
struct LoraAdd : public torch::autograd::Function<LoraAdd> {
  // y: the base layer's output; mask: bool, x's shape, or empty for no dropout (libtorch's Function::apply takes no
  // undefined tensors); keep_scale = 1 / (1 - p). Returns y + scaling * B(A(dropout(float(x)))) in y's dtype.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const at::Tensor& x, const at::Tensor& a_weight,
                            const at::Tensor& b_weight, const at::Tensor& mask, double keep_scale, double scaling) {
    at::Tensor h = dropped(x, mask, keep_scale);
    at::Tensor a = at::linear(h, a_weight);
    ctx->save_for_backward({x, a_weight, b_weight, mask, a});
    ctx->saved_data["keep_scale"] = keep_scale;
    ctx->saved_data["scaling"] = scaling;
    const int64_t out = b_weight.size(0);
    at::Tensor sum = at::addmm(y.reshape({-1, out}).to(at::kFloat), a.reshape({-1, a.size(-1)}), b_weight.t(),
                               /*beta=*/1, /*alpha=*/scaling);
    return sum.to(y.scalar_type()).view(y.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &a_weight = saved[1], &b_weight = saved[2], &mask = saved[3], &a = saved[4];
    const double keep_scale = ctx->saved_data["keep_scale"].toDouble(), scaling = ctx->saved_data["scaling"].toDouble();
    const int64_t out = b_weight.size(0), r = a_weight.size(0), in = a_weight.size(1);
    at::Tensor g = grad_out[0].reshape({-1, out}).to(at::kFloat) * scaling;  // d loss / d (B a); d loss / d y = grad
    at::Tensor a2 = a.reshape({-1, r});
    at::Tensor grad_b = g.t().mm(a2);   // [out, r]
    at::Tensor ga = g.mm(b_weight);     // [N, r]
    at::Tensor grad_a = ga.t().mm(dropped(x, mask, keep_scale).reshape({-1, in}));  // [r, in]
    at::Tensor grad_x;
    if (x.requires_grad()) {
      grad_x = ga.mm(a_weight).reshape(x.sizes());
      if (mask.numel() > 0) grad_x.mul_(mask).mul_(keep_scale);
      grad_x = grad_x.to(x.scalar_type());
    }
    return {grad_out[0], grad_x, grad_a, grad_b, at::Tensor(), at::Tensor(), at::Tensor()};
  }

  static at::Tensor dropped(const at::Tensor& x, const at::Tensor& mask, double keep_scale) {
    at::Tensor h = x.to(at::kFloat);
    if (!mask.defined() || mask.numel() == 0) return h;
    return (h.is_same(x) ? h.clone() : h).mul_(mask).mul_(keep_scale);
  }
};

// The adapter path in the activations' dtype (LoraPrecision::Model), with the same lean saved state as LoraAdd: the
// float32 factors are cast to x's dtype (r x in and out x r: small), a = A(dropout(x)) is a bf16 matmul with float32
// accumulation, and y + scaling * a B^T is one addmm in y's dtype whose epilogue adds y in float32 before the one
// rounding. No [N, in] or [N, out] float32 copy is made in either pass (the float32 path's casts and float32 matmuls
// without tensor cores were a third of a Gemma step on an H100). The factors' gradients come out of bf16 matmuls
// (float32 accumulation, one rounding) and are returned in float32.
// a_low and b_low: the factors already cast to x's dtype (LoraLinearImpl::low_precision); a_weight and b_weight, the
// float32 parameters, are inputs only so that autograd routes their gradients. scale: the scaling as a one-element
// float32 tensor (LoraLinearImpl::scale_on): the backward pass applies the scaling where it is free or replaces a
// kernel: a bf16 factor gradient times a dimensioned float32 tensor is float32 arithmetic with a float32 result, one
// kernel that both casts and scales (float(m) * scaling, as the cast and the in-place multiply it replaces), and
// d loss / d x takes it as addmm's alpha; the unscaled [N, r] gradient of a is never multiplied on its own. Two
// kernels fewer per adapted layer (~490 a Gemma E2B step); for a scaling that is a power of two (alpha = 2r, the
// default) the numbers are bit for bit those of scaling the gradient of a first, otherwise they differ by rounding.
// With the frozen base weight (and bias) given instead of its output y (y empty), the base matmul is made here too, and
// the backward pass writes d loss / d x once, g W with the adapter's ga A added by an in-place addmm: otherwise the base
// linear's node and this one each make an [N, in] gradient that autograd then adds (one more kernel and tensor per
// adapted layer, the widest being down_proj's input). Quantized base weights keep their own matmul and pass y.
struct LoraAddInDtype : public torch::autograd::Function<LoraAddInDtype> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const at::Tensor& x, const at::Tensor& base,
                            const at::Tensor& bias, const at::Tensor& a_weight, const at::Tensor& b_weight,
                            const at::Tensor& a_low, const at::Tensor& b_low, const at::Tensor& mask,
                            const at::Tensor& scale, double keep_scale, double scaling) {
    (void)a_weight, (void)b_weight;
    const at::Tensor a = at::linear(dropped_in_dtype(x, mask, keep_scale), a_low);
    ctx->save_for_backward({x, a_low, b_low, mask, a, base, scale});
    ctx->saved_data["keep_scale"] = keep_scale;
    ctx->saved_data["scaling"] = scaling;
    if (base.numel() == 0) return add_update(y, a, b_low, scaling);
    return add_update(at::linear(x, base, bias.numel() > 0 ? bias : at::Tensor()), a, b_low, scaling);
  }

  // y + scaling * a B^T in one addmm (the add in its epilogue, in float32, one rounding to y's dtype).
  static at::Tensor add_update(const at::Tensor& y, const at::Tensor& a, const at::Tensor& b_low, double scaling) {
    return at::addmm(y.reshape({-1, b_low.size(0)}), a.reshape({-1, a.size(-1)}), b_low.t(), /*beta=*/1,
                     /*alpha=*/scaling)
        .view(y.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &a_low = saved[1], &b_low = saved[2], &mask = saved[3], &a = saved[4],
                     &base = saved[5], &scale = saved[6];
    const double keep_scale = ctx->saved_data["keep_scale"].toDouble(), scaling = ctx->saved_data["scaling"].toDouble();
    const int64_t out = b_low.size(0), r = a_low.size(0), in = a_low.size(1);
    const at::Tensor g = grad_out[0].reshape({-1, out});
    at::Tensor grad_b = at::mul(g.t().mm(a.reshape({-1, r})), scale);  // [out, r] float32
    const at::Tensor ga = g.mm(b_low);                                  // [N, r], d loss / d a over the scaling
    at::Tensor grad_a = at::mul(ga.t().mm(dropped_in_dtype(x, mask, keep_scale).reshape({-1, in})), scale);
    at::Tensor grad_x;
    if (x.requires_grad()) {
      const bool fused = base.numel() > 0;
      if (fused && mask.numel() == 0) {
        grad_x = g.mm(base).addmm_(ga, a_low, /*beta=*/1, /*alpha=*/scaling);
      } else {
        grad_x = ga.mm(a_low);
        if (mask.numel() > 0) grad_x.mul_(mask.reshape({-1, in}));
        grad_x.mul_(mask.numel() > 0 ? keep_scale * scaling : scaling);
        if (fused) grad_x.addmm_(g, base);
      }
      grad_x = grad_x.view(x.sizes());
    }
    const at::Tensor none;
    return {base.numel() > 0 ? none : grad_out[0], grad_x, none, none, grad_a, grad_b, none, none, none, none, none,
            none};
  }

  static at::Tensor dropped_in_dtype(const at::Tensor& x, const at::Tensor& mask, double keep_scale) {
    if (!mask.defined() || mask.numel() == 0) return x;
    return (x * mask).mul_(keep_scale);
  }
};

}  // namespace

LoraPrecision parse_lora_precision(const std::string& s) {
  if (s == "model") return LoraPrecision::Model;
  if (s == "float32") return LoraPrecision::Float32;
  throw std::invalid_argument("lora_precision is '" + s + "', expected model or float32");
}

LoraFactorImpl::LoraFactorImpl(int64_t out, int64_t in, const at::TensorOptions& opts) {
  weight = register_parameter("weight", torch::zeros({out, in}, opts));
}

namespace {
thread_local bool stage_on_host = false;
}

StageBaseWeightsOnHost::StageBaseWeightsOnHost(bool on) : previous_(stage_on_host) { stage_on_host = stage_on_host || on; }
StageBaseWeightsOnHost::~StageBaseWeightsOnHost() { stage_on_host = previous_; }

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& opts)
    : in_(in_features), out_(out_features) {
  const at::TensorOptions where = stage_on_host ? opts.device(at::kCPU) : opts;
  weight = register_parameter("weight", torch::empty({out_features, in_features}, where), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}, where), /*requires_grad=*/false);
}

int64_t LoraLinearImpl::quantize_weight(QuantMode mode, at::Device device) {
  TORCH_CHECK(!quantized_, "quantize_weight: the weight is already quantized");
  torch::NoGradGuard no_grad;
  if (bias.defined()) bias.set_data(bias.to(device));
  if (mode == QuantMode::None) {
    weight.set_data(weight.to(device));
    return weight.numel() * weight.element_size();
  }
  // One matrix at a time through the device (quantizing there is fast; it holds this matrix twice at most).
  quantized_ = quantize(weight.to(device), mode);
  weight.set_data(torch::empty({0}, weight.options().device(device)));
  return quantized_->bytes();
}

QuantizeReport quantize_base_weights(torch::nn::Module& module, QuantMode mode, at::Device device) {
  QuantizeReport r;
  for (const auto& m : module.modules()) {
    auto* lin = dynamic_cast<LoraLinearImpl*>(m.get());
    if (!lin || lin->quantized() || !lin->weight.defined()) continue;
    const bool staged = lin->weight.device().is_cpu() && !device.is_cpu();
    if (!staged && !device.is_cpu()) continue;
    const int64_t before = lin->weight.numel() * lin->weight.element_size();
    const bool fits = lin->in_features() >= 64 && (mode != QuantMode::Nf4 || lin->in_features() % kNf4Block == 0);
    r.bytes_before += before;
    r.bytes_after += lin->quantize_weight(fits ? mode : QuantMode::None, device);
    (fits && mode != QuantMode::None ? r.layers : r.kept) += 1;
  }
  return r;
}

void LoraLinearImpl::enable_lora(const LoraOptions& o) {
  TORCH_CHECK(o.r > 0, "LoRA rank must be positive, got ", o.r);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(weight.device());
  lora_A = register_module("lora_A", LoraFactor(o.r, in_, opts));
  lora_B = register_module("lora_B", LoraFactor(out_, o.r, opts));
  {
    torch::NoGradGuard no_grad;
    // PEFT: kaiming_uniform_(a=sqrt(5)) on A, zeros on B.
    torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
    lora_B->weight.zero_();
  }
  scaling_ = o.alpha / static_cast<double>(o.r);
  scale_ = at::Tensor();  // scale_on() makes it anew with this scaling
  dropout_ = o.dropout;
  precision_ = o.precision;
}

at::Tensor LoraLinearImpl::forward(const at::Tensor& x) {
  auto y = [&] { return quantized_ ? quantized_linear(x, *quantized_, bias) : at::linear(x, weight, bias); };
  if (!lora_A) return y();
  // Float32 activations take the float32 path either way (the casts are no-ops there).
  const bool in_dtype = precision_ == LoraPrecision::Model && x.scalar_type() != at::kFloat;
  // The dropout mask is drawn the same way with and without autograd (rand < keep), so a seed gives one mask; in
  // the activations' dtype on the low-precision path (half the bytes of a float32 draw of x's size).
  const at::Tensor mask =
      dropout_ > 0 && is_training()
          ? torch::rand(x.sizes(), x.options().dtype(in_dtype ? x.scalar_type() : at::kFloat)).lt(1.0 - dropout_)
          : at::Tensor();
  const double keep_scale = 1.0 / (1.0 - dropout_);
  if (torch::GradMode::is_enabled() && (x.requires_grad() || lora_A->weight.requires_grad() ||
                                        lora_B->weight.requires_grad())) {
    const at::Tensor m = mask.defined() ? mask : torch::empty({0}, x.options().dtype(at::kBool));
    if (!in_dtype) return LoraAdd::apply(y(), x, lora_A->weight, lora_B->weight, m, keep_scale, scaling_);
    // The base matmul inside the function, unless the weight is quantized (its own matmul and autograd node).
    const at::Tensor empty = torch::empty({0}, x.options());
    const bool fuse = !quantized_;
    return LoraAddInDtype::apply(fuse ? empty : y(), x, fuse ? weight : empty,
                                 fuse && bias.defined() ? bias : empty, lora_A->weight, lora_B->weight,
                                 low_precision(lora_A->weight, x.scalar_type(), low_a_),
                                 low_precision(lora_B->weight, x.scalar_type(), low_b_), m, scale_on(x.device()),
                                 keep_scale, scaling_);
  }
  if (in_dtype) {
    const at::Tensor a = at::linear(LoraAddInDtype::dropped_in_dtype(x, mask, keep_scale),
                                    low_precision(lora_A->weight, x.scalar_type(), low_a_));
    return LoraAddInDtype::add_update(y(), a, low_precision(lora_B->weight, x.scalar_type(), low_b_), scaling_);
  }
  const at::Tensor delta =
      at::linear(at::linear(LoraAdd::dropped(x, mask, keep_scale), lora_A->weight), lora_B->weight) * scaling_;
  const at::Tensor base = y();
  return (base.to(at::kFloat) + delta).to(base.scalar_type());
}

const at::Tensor& LoraLinearImpl::scale_on(const at::Device& device) {
  if (!scale_.defined() || scale_.device() != device) {
    torch::NoGradGuard no_grad;
    scale_ = at::full({1}, scaling_, at::TensorOptions().dtype(at::kFloat).device(device));
  }
  return scale_;
}

const at::Tensor& LoraLinearImpl::low_precision(const at::Tensor& factor, at::ScalarType dtype, LowCopy& copy) {
  if (!copy.low.defined() || copy.low.scalar_type() != dtype || copy.low.device() != factor.device() ||
      copy.data != factor.data_ptr() || copy.version != factor._version()) {
    torch::NoGradGuard no_grad;
    // A view of one cast of the optimizer's whole buffer where the factor lives in it; its own cast otherwise.
    copy.low = cast_in_flat_buffer(factor, dtype);
    if (!copy.low.defined()) copy.low = factor.detach().to(dtype);
    copy.data = factor.data_ptr();
    copy.version = factor._version();
  }
  return copy.low;
}

}  // namespace gt::models
