#include "models/common/quantized_weight.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>

#include "core/error.h"

namespace gt::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows quantized at once: about 1 Mi elements, so a block's temporaries (its float32 copy, absolute values, the
// normalized values, grid cells, gathers) stay near 20 MiB whatever the matrix.
int64_t rows_per_block(int64_t in) { return std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, in)); }

// Decision boundaries between adjacent NF4 levels, in float32: a normalized value x gets code k when
// mid[k-1] < x <= mid[k], i.e. the nearest level with ties to the lower one.
const std::array<float, 15>& nf4_midpoints() {
  static const std::array<float, 15> mid = [] {
    std::array<float, 15> m{};
    const auto& l = nf4_levels();
    for (size_t k = 0; k < m.size(); ++k) m[k] = static_cast<float>((double{l[k]} + double{l[k + 1]}) / 2);
    return m;
  }();
  return mid;
}

// Cells of the uniform grid over [-1, 1] that quantize() uses to find a code without 15 comparisons an element.
constexpr int64_t kNf4Cells = 4096;

// Lookup tables of NF4 on one device. Built once a device (on the CPU, copied once: a fresh host-to-device copy in
// every forward would synchronize the stream) and kept for the life of the process (the cache is never destroyed,
// so no device tensor is freed after its backend has shut down).
struct Nf4Tables {
  at::Tensor pairs;      // float32 [256, 2]: byte -> the levels of its two codes
  at::Tensor cell_base;  // uint8 [kNf4Cells]: number of midpoints below cell g of the grid
  at::Tensor cell_mid;   // float32 [kNf4Cells]: the midpoint inside cell g, or 2 (above every x) when none is
};

// code(x) = #{k : x > mid[k]}. With cell g = floor((x + 1) * kNf4Cells / 2), that is cell_base[g] + (x > cell_mid[g])
// provided no cell holds two midpoints and no midpoint lies within the rounding error of (x + 1) * 2048 (about
// 1.2e-7 in x) of a cell edge: then an x that float32 rounding puts into the neighbouring cell lies on the same side
// of every midpoint as that cell's edge, and both cells give it the same code. Both conditions are checked here.
Nf4Tables build_nf4_tables() {
  Nf4Tables t;
  const auto& l = nf4_levels();
  at::Tensor levels = torch::tensor(std::vector<float>(l.begin(), l.end()), at::kFloat);
  at::Tensor codes = nf4_unpack(torch::arange(256, at::kByte).unsqueeze(1)).to(at::kLong);  // [256, 2]
  t.pairs = levels.index_select(0, codes.reshape({-1})).reshape({256, 2});
  std::vector<uint8_t> base(kNf4Cells);
  std::vector<float> mid(kNf4Cells, 2.0f);
  const auto& m = nf4_midpoints();
  const double width = 2.0 / kNf4Cells;
  for (int64_t g = 0; g < kNf4Cells; ++g) {
    const double lo = -1.0 + width * g, hi = lo + width;
    for (float mk : m) {
      GT_CHECK(std::abs(double{mk} - lo) > 1e-6, "NF4 midpoint ", mk, " too close to grid edge ", lo);
      if (mk < lo) ++base[g];
      if (mk > lo && mk < hi) {
        GT_CHECK(mid[g] == 2.0f, "two NF4 midpoints in grid cell ", g);
        mid[g] = mk;
      }
    }
  }
  t.cell_base = torch::from_blob(base.data(), {kNf4Cells}, at::kByte).clone();
  t.cell_mid = torch::from_blob(mid.data(), {kNf4Cells}, at::kFloat).clone();
  return t;
}

Nf4Tables nf4_tables(const at::Device& device) {
  static std::mutex mu;
  static auto* cache = new std::vector<std::pair<at::Device, Nf4Tables>>();
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [d, t] : *cache)
    if (d == device) return t;
  Nf4Tables t = build_nf4_tables();
  if (!device.is_cpu()) {
    t.pairs = t.pairs.to(device);
    t.cell_base = t.cell_base.to(device);
    t.cell_mid = t.cell_mid.to(device);
  }
  cache->emplace_back(device, t);
  return t;
}

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void quantize_int8_rows(const at::Tensor& w, at::Tensor& data, at::Tensor& scale, int64_t r0, int64_t r1) {
  at::Tensor wf = w.slice(0, r0, r1).to(at::kFloat);  // may alias w (float32 input): used out of place only
  at::Tensor s = wf.abs().amax(1).div_(127);
  s.masked_fill_(s == 0, 1.0);  // an all-zero row: codes 0, scale 1
  at::Tensor code = (wf / s.unsqueeze(1)).round_().clamp_(-127, 127).to(at::kChar);
  data.slice(0, r0, r1).copy_(code);
  scale.slice(0, r0, r1).copy_(s);
}

void quantize_nf4_rows(const at::Tensor& w, at::Tensor& data, at::Tensor& scale, int64_t r0, int64_t r1) {
  const int64_t n = r1 - r0, in = w.size(1);
  at::Tensor wf = w.slice(0, r0, r1).to(at::kFloat).reshape({n, in / kNf4Block, kNf4Block});
  at::Tensor absmax = wf.abs().amax(-1);  // [n, in / 64]
  absmax.masked_fill_(absmax == 0, 1.0);  // an all-zero block: every code is level 0
  at::Tensor x = (wf / absmax.unsqueeze(-1)).reshape({-1});  // in [-1, 1]
  // code = number of midpoints below x, through the grid of nf4_tables: a few cheap passes and two gathers of tiny
  // tables, 3x faster on the CPU than 15 comparisons with the midpoints and 5x faster than bucketize's binary
  // search; no [.., 16] distance tensor.
  const Nf4Tables t = nf4_tables(x.device());
  at::Tensor cell = x.add(1).mul_(kNf4Cells / 2).to(at::kInt).clamp_(0, kNf4Cells - 1);
  at::Tensor code = t.cell_base.index_select(0, cell).add_(x > t.cell_mid.index_select(0, cell));
  data.slice(0, r0, r1).copy_(nf4_pack(code.view({n, in})));
  scale.slice(0, r0, r1).copy_(absmax);
}

struct QuantizedLinearFunction : public torch::autograd::Function<QuantizedLinearFunction> {
  // bias travels as an optional: an undefined tensor is not a valid input of a custom Function (libtorch 1.13).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const QuantizedWeight& q,
                            const c10::optional<at::Tensor>& bias) {
    // Only the quantized tensors and their description are kept; W below is freed when forward returns.
    ctx->save_for_backward({q.data, q.scale});
    ctx->saved_data["mode"] = static_cast<int64_t>(q.mode);
    ctx->saved_data["out"] = q.out;
    ctx->saved_data["in"] = q.in;
    ctx->saved_data["dtype"] = static_cast<int64_t>(q.dtype);
    ctx->saved_data["has_bias"] = bias.has_value();
    return at::linear(x, dequantize(q), bias.value_or(at::Tensor()));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor& gy = grad_out[0];  // [..., out]
    at::Tensor gx, gb;
    if (ctx->needs_input_grad(0)) {
      variable_list saved = ctx->get_saved_variables();
      QuantizedWeight q;
      q.mode = static_cast<QuantMode>(ctx->saved_data["mode"].toInt());
      q.data = saved[0];
      q.scale = saved[1];
      q.out = ctx->saved_data["out"].toInt();
      q.in = ctx->saved_data["in"].toInt();
      q.dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
      gx = at::matmul(gy, dequantize(q));  // [..., in], as linear's own backward: grad_y W
    }
    // needs_input_grad counts tensor inputs only: x is 0, a defined bias 1.
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(1)) gb = gy.reshape({-1, gy.size(-1)}).sum(0);
    return {gx, at::Tensor(), gb};
  }
};

}  // namespace

QuantMode parse_quant_mode(const std::string& s) {
  if (s == "none") return QuantMode::None;
  if (s == "int8") return QuantMode::Int8;
  if (s == "nf4") return QuantMode::Nf4;
  fail_input("--quantize: unknown mode '", s, "'; expected none, int8 or nf4");
}

const char* quant_mode_name(QuantMode m) {
  switch (m) {
    case QuantMode::None: return "none";
    case QuantMode::Int8: return "int8";
    case QuantMode::Nf4: return "nf4";
  }
  return "?";
}

int64_t QuantizedWeight::bytes() const {
  int64_t n = 0;
  if (data.defined()) n += static_cast<int64_t>(data.nbytes());
  if (scale.defined()) n += static_cast<int64_t>(scale.nbytes());
  return n;
}

const std::array<float, 16>& nf4_levels() {
  // QLoRA appendix / bitsandbytes' NF4 table: quantiles of N(0, 1) normalized to [-1, 1], with an exact zero.
  static const std::array<float, 16> levels = {
      -1.0f,
      -0.6961928009986877f,
      -0.5250730514526367f,
      -0.39491748809814453f,
      -0.28444138169288635f,
      -0.18477343022823334f,
      -0.09105003625154495f,
      0.0f,
      0.07958029955625534f,
      0.16093020141124725f,
      0.24611230194568634f,
      0.33791524171829224f,
      0.44070982933044434f,
      0.5626170039176941f,
      0.7229568362236023f,
      1.0f,
  };
  return levels;
}

at::Tensor nf4_pack(const at::Tensor& codes) {
  GT_CHECK(codes.scalar_type() == at::kByte && codes.dim() >= 1 && codes.size(-1) % 2 == 0,
           "nf4_pack wants uint8 codes with an even last dimension, got ", shape_of(codes));
  std::vector<int64_t> pairs(codes.sizes().begin(), codes.sizes().end());
  pairs.back() /= 2;
  pairs.push_back(2);
  at::Tensor c = codes.reshape(pairs);
  // hi * 16 + lo in uint8 (multiply and add rather than shifts: every backend has them for uint8)
  return c.select(-1, 0).mul(16).add_(c.select(-1, 1));
}

at::Tensor nf4_unpack(const at::Tensor& bytes) {
  GT_CHECK(bytes.scalar_type() == at::kByte && bytes.dim() >= 1, "nf4_unpack wants uint8 bytes, got ",
           shape_of(bytes));
  at::Tensor hi = at::bitwise_right_shift(bytes, 4);
  at::Tensor lo = at::bitwise_and(bytes, 15);
  std::vector<int64_t> sizes(bytes.sizes().begin(), bytes.sizes().end());
  sizes.back() *= 2;
  return at::stack({hi, lo}, -1).reshape(sizes);
}

QuantizedWeight quantize(const at::Tensor& w, QuantMode mode, const std::string& name) {
  if (w.dim() != 2)
    fail_input("quantize '", name, "': expected a 2-D [out, in] weight, found shape ", shape_of(w));
  if (!at::isFloatingType(w.scalar_type()))
    fail_input("quantize '", name, "': expected a floating-point weight, found ", w.scalar_type());
  QuantizedWeight q;
  q.mode = mode;
  q.out = w.size(0);
  q.in = w.size(1);
  q.dtype = w.scalar_type();
  at::Tensor frozen = w.detach();
  if (mode == QuantMode::None) {
    q.data = frozen;
    return q;
  }
  if (mode == QuantMode::Nf4 && q.in % kNf4Block != 0)
    fail_input("quantize '", name, "': nf4 needs the input dimension to be a multiple of ", kNf4Block,
               ", found shape ", shape_of(w), "; use --quantize int8 or none");
  at::NoGradGuard no_grad;
  const auto opts = w.options();
  if (mode == QuantMode::Int8) {
    q.data = torch::empty({q.out, q.in}, opts.dtype(at::kChar));
    q.scale = torch::empty({q.out}, opts.dtype(at::kFloat));
  } else {
    q.data = torch::empty({q.out, q.in / 2}, opts.dtype(at::kByte));
    q.scale = torch::empty({q.out, q.in / kNf4Block}, opts.dtype(at::kFloat));
  }
  const int64_t block = rows_per_block(q.in);
  for (int64_t r0 = 0; r0 < q.out; r0 += block) {
    const int64_t r1 = std::min(q.out, r0 + block);
    if (mode == QuantMode::Int8)
      quantize_int8_rows(frozen, q.data, q.scale, r0, r1);
    else
      quantize_nf4_rows(frozen, q.data, q.scale, r0, r1);
  }
  return q;
}

at::Tensor dequantize(const QuantizedWeight& q) {
  at::NoGradGuard no_grad;
  at::Tensor w;
  switch (q.mode) {
    case QuantMode::None:
      return q.data.scalar_type() == q.dtype ? q.data : q.data.to(q.dtype);
    case QuantMode::Int8:
      w = q.data.to(at::kFloat).mul_(q.scale.unsqueeze(1));  // exact products of int8 codes, one rounding
      break;
    case QuantMode::Nf4: {
      // Each byte indexes the [256, 2] table of its two levels, so no [out, in] index tensor is made.
      at::Tensor idx = q.data.reshape({-1}).to(at::kInt);  // [out * in / 2]
      w = nf4_tables(q.data.device()).pairs.index_select(0, idx);  // [out * in / 2, 2] float32
      idx = at::Tensor();
      w = w.view({q.out, q.in / kNf4Block, kNf4Block}).mul_(q.scale.unsqueeze(-1)).view({q.out, q.in});
      break;
    }
  }
  return q.dtype == at::kFloat ? w : w.to(q.dtype);
}

at::Tensor quantized_linear(const at::Tensor& x, const QuantizedWeight& q, const at::Tensor& bias) {
  GT_CHECK(x.size(-1) == q.in && x.scalar_type() == q.dtype, "quantized_linear: x ", shape_of(x), " ",
           x.scalar_type(), " against a [", q.out, ", ", q.in, "] ", q.dtype, " weight");
  return QuantizedLinearFunction::apply(x, q, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt);
}

std::vector<at::Tensor> quantized_linear_saved(const at::Tensor& y) {
  std::vector<at::Tensor> out;
  if (!y.grad_fn()) return out;
  auto* node = dynamic_cast<torch::autograd::CppNode<QuantizedLinearFunction>*>(y.grad_fn().get());
  GT_CHECK(node != nullptr, "quantized_linear_saved: y was made by ", y.grad_fn()->name());
  for (const at::Tensor& t : node->ctx_.get_saved_variables())
    if (t.defined()) out.push_back(t);
  for (const auto& [key, value] : node->ctx_.saved_data) {
    if (value.isTensor()) out.push_back(value.toTensor());
    if (value.isTensorList())
      for (const at::Tensor& t : value.toTensorVector()) out.push_back(t);
  }
  return out;
}

}  // namespace gt::models
