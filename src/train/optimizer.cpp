#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"
#include "models/common/flat_parameters.h"

namespace gt::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions opts)
    : params_(std::move(params)), opts_(opts) {
  GT_CHECK(!params_.empty(), "AdamW without parameters");
  torch::NoGradGuard no_grad;
  int64_t total = 0;
  for (auto& [name, p] : params_) {
    GT_CHECK(p.scalar_type() == params_[0].second.scalar_type() && p.device() == params_[0].second.device(),
             "AdamW parameters must share dtype and device: ", name);
    spans_.emplace_back(total, p.numel());
    total += p.numel();
  }
  const auto opts_t = params_[0].second.options();
  flat_ = torch::empty({total}, opts_t);
  flat_grad_ = torch::zeros({total}, opts_t);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    at::Tensor slot = flat_.narrow(0, spans_[i].first, spans_[i].second).view(p.sizes());
    slot.copy_(p);
    p.set_data(slot);
  }
  // set_data keeps each parameter's own version counter, so the updates below would not be seen through them: give
  // them the buffer's, as views of it have (autograd's saved-tensor checks and LoraLinear's low-precision copies key
  // on a parameter's version), and let those copies be one cast of the whole buffer.
  models::register_flat_parameters(flat_, params_);
  point_gradients_at_flat();
  exp_avg_ = torch::zeros({total}, opts_t);
  exp_avg_sq_ = torch::zeros({total}, opts_t);
}

void AdamW::point_gradients_at_flat() {
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    if (!p.grad().defined() ||
        p.grad().data_ptr() != static_cast<void*>(flat_grad_.data_ptr<float>() + spans_[i].first))
      p.mutable_grad() = flat_grad_.narrow(0, spans_[i].first, spans_[i].second).view(p.sizes());
  }
  gathered_ = true;
}

void AdamW::gather_gradients() {
  if (gathered_) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  parts.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& g = params_[i].second.grad();
    parts.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({spans_[i].second}, flat_.options()));
  }
  flat_grad_ = at::cat(parts);
  point_gradients_at_flat();
}

const at::Tensor& AdamW::flat_grad() {
  gather_gradients();
  return flat_grad_;
}

void AdamW::accumulate_in_place() {
  gather_gradients();
  in_place_ = true;
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  gather_gradients();
  ++step_;
  const double bc1 = 1.0 - std::pow(opts_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(opts_.beta2, static_cast<double>(step_));
  const double step_size = lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  const at::Tensor& g = flat_grad_;
  if (opts_.weight_decay != 0) flat_.mul_(1.0 - lr * opts_.weight_decay);
  exp_avg_.lerp_(g, 1.0 - opts_.beta1);
  exp_avg_sq_.mul_(opts_.beta2).addcmul_(g, g, 1.0 - opts_.beta2);
  at::Tensor denom = (exp_avg_sq_.sqrt() / bc2_sqrt).add_(opts_.eps);
  flat_.addcdiv_(exp_avg_, denom, -step_size);  // bumps the version the parameters share with flat_
}

void AdamW::zero_grad() {
  if (!in_place_) {
    for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();
    flat_grad_ = at::Tensor();  // its memory goes back to the allocator until the next gathering
    gathered_ = false;
    return;
  }
  flat_grad_.zero_();
  // A backward pass may have replaced a view by a fresh tensor (it does when the gradient was undefined).
  point_gradients_at_flat();
}

double AdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  gather_gradients();
  const double total = flat_grad_.norm(2).item<double>();
  const double coef = max_norm / (total + 1e-6);
  if (max_norm > 0 && coef < 1.0) flat_grad_.mul_(coef);
  return total;
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto shape = params_[i].second.sizes();
    out.emplace_back(params_[i].first + ".exp_avg", exp_avg_.narrow(0, spans_[i].first, spans_[i].second).view(shape));
    out.emplace_back(params_[i].first + ".exp_avg_sq",
                     exp_avg_sq_.narrow(0, spans_[i].first, spans_[i].second).view(shape));
  }
  out.emplace_back("__step__", torch::tensor({step_}, at::kLong));
  return out;
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& state, const std::string& where) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& key, const at::Tensor& like) {
    auto it = state.find(key);
    if (it == state.end()) fail_input(where, ": optimizer state has no '", key, "'");
    if (it->second.sizes() != like.sizes())
      fail_input(where, ": optimizer state '", key, "' has shape ", it->second.sizes(), ", expected ", like.sizes());
    return it->second;
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto shape = params_[i].second.sizes();
    at::Tensor m = exp_avg_.narrow(0, spans_[i].first, spans_[i].second).view(shape);
    at::Tensor v = exp_avg_sq_.narrow(0, spans_[i].first, spans_[i].second).view(shape);
    m.copy_(get(params_[i].first + ".exp_avg", m));
    v.copy_(get(params_[i].first + ".exp_avg_sq", v));
  }
  auto it = state.find("__step__");
  if (it == state.end()) fail_input(where, ": optimizer state has no step count");
  step_ = it->second.item<int64_t>();
}

double scheduled_lr(const std::string& kind, double peak, int64_t step, int64_t total, int64_t warmup) {
  if (step < warmup) return peak * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  if (kind == "constant") return peak;
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  if (kind == "linear") return peak * std::max(0.0, 1.0 - progress);
  if (kind == "cosine") return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  GT_CHECK(false, "unknown schedule ", kind);
}

}  // namespace gt::train
