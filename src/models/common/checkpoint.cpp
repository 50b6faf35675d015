#include "models/common/checkpoint.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <mutex>

namespace gt::models {

namespace {

using torch::autograd::variable_list;

struct RngSnapshot {
  at::Tensor cpu;
  std::vector<std::pair<at::Device, at::Tensor>> devices;

  static RngSnapshot take(const std::vector<at::Tensor>& inputs) {
    RngSnapshot s;
    auto cpu_gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(cpu_gen.mutex());
      s.cpu = cpu_gen.get_state();
    }
    for (const at::Tensor& t : inputs) {
      if (!t.defined() || t.device().is_cpu()) continue;
      bool seen = false;
      for (auto& d : s.devices) seen = seen || d.first == t.device();
      if (seen) continue;
      auto gen = at::globalContext().defaultGenerator(t.device());
      std::lock_guard<std::mutex> lock(gen.mutex());
      s.devices.emplace_back(t.device(), gen.get_state());
    }
    return s;
  }
  void restore() const {
    auto cpu_gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(cpu_gen.mutex());
      cpu_gen.set_state(cpu);
    }
    for (const auto& [device, state] : devices) {
      auto gen = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  }
};

struct CheckpointBackward : public torch::autograd::Node {
  CheckpointFn fn;
  std::vector<at::Tensor> inputs;  // detached
  std::vector<bool> input_requires_grad;
  RngSnapshot rng;

  std::string name() const override { return "gt::CheckpointBackward"; }

  variable_list apply(variable_list&& grads) override {
    RngSnapshot after = RngSnapshot::take(inputs);
    rng.restore();
    std::vector<at::Tensor> leaves;
    for (size_t i = 0; i < inputs.size(); ++i)
      leaves.push_back(inputs[i].defined() ? inputs[i].detach().requires_grad_(input_requires_grad[i]) : at::Tensor());
    std::vector<at::Tensor> outputs;
    {
      at::AutoGradMode enable(true);
      outputs = fn(leaves);
    }
    after.restore();
    variable_list outs, out_grads;
    for (size_t i = 0; i < outputs.size() && i < grads.size(); ++i)
      if (grads[i].defined() && outputs[i].defined() && outputs[i].requires_grad()) {
        outs.push_back(outputs[i]);
        out_grads.push_back(grads[i]);
      }
    if (!outs.empty()) torch::autograd::backward(outs, out_grads);
    variable_list result;
    for (size_t i = 0; i < leaves.size(); ++i)
      result.push_back(leaves[i].defined() && input_requires_grad[i] ? leaves[i].grad() : at::Tensor());
    fn = nullptr;  // release captured state
    inputs.clear();
    return result;
  }
};

}  // namespace

std::vector<at::Tensor> checkpoint(const CheckpointFn& fn, const std::vector<at::Tensor>& inputs) {
  if (!at::GradMode::is_enabled()) return fn(inputs);
  auto node = std::shared_ptr<CheckpointBackward>(new CheckpointBackward(), torch::autograd::deleteNode);
  node->fn = fn;
  node->rng = RngSnapshot::take(inputs);
  for (const at::Tensor& t : inputs) {
    node->inputs.push_back(t.defined() ? t.detach() : at::Tensor());
    node->input_requires_grad.push_back(t.defined() && t.requires_grad());
  }
  std::vector<at::Tensor> outputs;
  {
    at::NoGradGuard no_grad;
    outputs = fn(inputs);
  }
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  for (at::Tensor& out : outputs)
    if (out.defined() && at::isFloatingType(out.scalar_type())) torch::autograd::create_gradient_edge(out, node);
  return outputs;
}

}  // namespace gt::models
