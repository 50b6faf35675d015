// A census of the ATen ops a stretch of code runs, through RecordFunction callbacks (ATen/record_function.h): works
// with any libtorch (Debian's has no Kineto) and on any device, so the number of kernels a training step launches can
// be counted on a CPU. An op is counted when it calls no other op (the innermost ones, which are the ones that run a
// kernel) and is not a view or an allocation (they launch none); the count is then close to the kernel count a GPU
// trace shows, whatever the device. Attribution: the outermost op or autograd node enclosing each counted op on its
// thread (aten::linear, aten::rms_norm, MulBackward0, the C++ autograd functions' nodes ...). Where a path differs by
// device (fused CUDA norms, SDPA's kernels; the CPU's reductions that fill and copy), so do the counts: compare
// counts of the same device.
//
// Ops that wait for the device (aten::_local_scalar_dense behind item(), aten::nonzero) are counted apart: each one
// is a host-device synchronisation, which also rules out capturing the step in a CUDA graph.
#pragma once

#include <ATen/record_function.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gt::bench {

class OpCensus {
 public:
  void start() {
    std::lock_guard<std::mutex> lock(state().mu);
    state().by_op.clear(), state().by_scope.clear(), state().by_pair.clear();
    state().total = 0, state().syncs = 0;
    handle_ = at::addGlobalCallback(
        at::RecordFunctionCallback(&on_start, &on_end)
            .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION, at::RecordScope::USER_SCOPE}));
  }
  void stop() {
    if (handle_) at::removeCallback(handle_);
    handle_ = 0;
  }
  ~OpCensus() { stop(); }

  int64_t total() const { return state().total; }
  int64_t syncs() const { return state().syncs; }
  // The `top` largest counts by op name and by enclosing scope, largest first.
  static std::vector<std::pair<std::string, int64_t>> largest(const std::map<std::string, int64_t>& m, size_t top) {
    std::vector<std::pair<std::string, int64_t>> v(m.begin(), m.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > top) v.resize(top);
    return v;
  }
  std::vector<std::pair<std::string, int64_t>> by_op(size_t top) const { return largest(state().by_op, top); }
  std::vector<std::pair<std::string, int64_t>> by_scope(size_t top) const { return largest(state().by_scope, top); }
  // "scope > op"
  std::vector<std::pair<std::string, int64_t>> by_pair(size_t top) const { return largest(state().by_pair, top); }

 private:
  struct Frame {
    std::string name;
    bool is_op = false;  // an ATen operator (RecordScope::FUNCTION), not an autograd node or a user scope
    bool has_child = false;
  };
  struct State {
    std::mutex mu;
    std::map<std::string, int64_t> by_op, by_scope, by_pair;
    int64_t total = 0, syncs = 0;
  };
  static State& state() {
    static State s;
    return s;
  }
  static std::vector<Frame>& stack() {
    thread_local std::vector<Frame> s;
    return s;
  }
  // Ops that only make a view or allocate: no kernel.
  static bool launches_nothing(std::string_view n) {
    static const std::string_view none[] = {
        "aten::view", "aten::_unsafe_view", "aten::reshape", "aten::_reshape_alias", "aten::as_strided",
        "aten::transpose", "aten::t", "aten::permute", "aten::expand", "aten::expand_as", "aten::slice",
        "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::unbind", "aten::split", "aten::split_with_sizes",
        "aten::chunk", "aten::narrow", "aten::alias", "aten::detach", "aten::detach_", "detach", "aten::empty",
        "aten::empty_like", "aten::empty_strided", "aten::resize_", "aten::set_", "aten::lift_fresh", "aten::to",
        "aten::contiguous", "aten::result_type", "aten::view_as", "aten::flatten", "aten::unflatten",
        "aten::movedim", "aten::swapaxes", "aten::diagonal", "aten::real", "aten::_has_compatible_shallow_copy_type",
        "aten::is_pinned", "aten::requires_grad_", "aten::pin_memory", "aten::_pin_memory", "aten::numpy_T",
        "aten::matrix_H", "aten::mT", "aten::resolve_conj", "aten::resolve_neg", "aten::conj", "aten::_conj"};
    return std::find(std::begin(none), std::end(none), n) != std::end(none);
  }
  // Matmuls run their own kernel even where they also call ops (the CPU's addmm copies its bias into the output).
  static bool is_matmul(std::string_view n) {
    return n == "aten::mm" || n == "aten::bmm" || n == "aten::addmm" || n == "aten::addmm_" || n == "aten::baddbmm" ||
           n == "aten::addbmm" || n == "aten::addmv";
  }
  static std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
    auto& s = stack();
    if (!s.empty()) s.back().has_child = true;
    s.push_back({fn.name(), fn.scope() == at::RecordScope::FUNCTION, false});
    return nullptr;
  }
  static void on_end(const at::RecordFunction& /*fn*/, at::ObserverContext* /*ctx*/) {
    auto& s = stack();
    if (s.empty()) return;  // started before the census
    Frame f = std::move(s.back());
    s.pop_back();
    if (!f.is_op || launches_nothing(f.name) || (f.has_child && !is_matmul(f.name))) return;
    const std::string& scope = s.empty() ? f.name : s.front().name;
    std::lock_guard<std::mutex> lock(state().mu);
    ++state().total;
    ++state().by_op[f.name];
    ++state().by_scope[scope];
    ++state().by_pair[scope + " > " + f.name];
    if (f.name == "aten::_local_scalar_dense" || f.name == "aten::nonzero") ++state().syncs;
  }
  at::CallbackHandle handle_ = 0;
};

}  // namespace gt::bench
