#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace gt::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions opts)
    : params_(std::move(params)), opts_(opts) {
  for (auto& [name, p] : params_) {
    exp_avg_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double bc1 = 1.0 - std::pow(opts_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(opts_.beta2, static_cast<double>(step_));
  const double step_size = lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (opts_.weight_decay != 0) p.mul_(1.0 - lr * opts_.weight_decay);
    exp_avg_[i].lerp_(g, 1.0 - opts_.beta1);
    exp_avg_sq_[i].mul_(opts_.beta2).addcmul_(g, g, 1.0 - opts_.beta2);
    at::Tensor denom = (exp_avg_sq_[i].sqrt() / bc2_sqrt).add_(opts_.eps);
    p.addcdiv_(exp_avg_[i], denom, -step_size);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(params_[i].first + ".exp_avg", exp_avg_[i]);
    out.emplace_back(params_[i].first + ".exp_avg_sq", exp_avg_sq_[i]);
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
    exp_avg_[i].copy_(get(params_[i].first + ".exp_avg", exp_avg_[i]));
    exp_avg_sq_[i].copy_(get(params_[i].first + ".exp_avg_sq", exp_avg_sq_[i]));
  }
  auto it = state.find("__step__");
  if (it == state.end()) fail_input(where, ": optimizer state has no step count");
  step_ = it->second.item<int64_t>();
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().to(at::kFloat).norm(2));
  if (norms.empty()) return 0.0;
  const double total = at::stack(norms).norm(2).item<double>();
  const double coef = max_norm / (total + 1e-6);
  if (max_norm > 0 && coef < 1.0) {
    for (const at::Tensor& p : params)
      if (p.grad().defined()) p.grad().mul_(coef);
  }
  return total;
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
