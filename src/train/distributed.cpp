#include "train/distributed.h"

#include <torch/torch.h>

#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "train/launcher.h"
#include "train/optimizer.h"

#if GT_HAVE_C10D
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if GT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if GT_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace gt::train {

namespace {

int env_int(const char* name, int fallback, int lowest, int highest) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < lowest || n > highest)
    fail_input("environment variable ", name, "=", v, ": expected a whole number from ", lowest, " to ", highest);
  return static_cast<int>(n);
}

// c10d's messages carry a C++ backtrace after their first line: the line is what a user needs.
[[maybe_unused]] std::string first_line(const std::exception& e) {
  const std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

}  // namespace

World world_from_env() {
  World w;
  w.size = env_int("WORLD_SIZE", 1, 1, 65536);
  if (w.size == 1) return w;
  if (!std::getenv("RANK"))
    fail_input("WORLD_SIZE=", w.size, " without RANK: a data-parallel process needs RANK (0..", w.size - 1,
               "), as torchrun sets it, or start every process at once with `train --nproc N`");
  w.rank = env_int("RANK", 0, 0, w.size - 1);
  w.local_rank = env_int("LOCAL_RANK", w.rank, 0, w.size - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) w.master_addr = a;
  w.master_port = env_int("MASTER_PORT", w.master_port, 1, 65535);
  return w;
}

std::string data_parallel_backends() {
  std::string out;
#if GT_HAVE_GLOO
  out = "gloo (CPU)";
#endif
#if GT_HAVE_NCCL
  out += std::string(out.empty() ? "" : ", ") + "nccl (CUDA)";
#endif
  return out;
}

#if GT_HAVE_C10D

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  std::string backend;
  // The backend's allreduce (ProcessGroupGloo and ProcessGroupNCCL share no base class across libtorch versions
  // that has it: ProcessGroup in 1.x, Backend in 2.x).
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)> allreduce;
  c10::intrusive_ptr<c10::intrusive_ptr_target> keep;  // the backend object
};

ProcessGroup::ProcessGroup(const World& world, const at::Device& device, std::chrono::milliseconds timeout)
    : world_(world), impl_(std::make_unique<Impl>()) {
  const std::string where = cat("rank ", world.rank, " of ", world.size);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(world.master_port);
    so.isServer = world.rank == 0;
    so.numWorkers = static_cast<size_t>(world.size);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, so);
  } catch (const std::exception& e) {
    fail_input(where, ": no rendezvous with the other processes at ", world.master_addr, ":", world.master_port,
               " (MASTER_ADDR, MASTER_PORT) within ", timeout.count() / 1000, " s: ", first_line(e));
  }
#if GT_HAVE_NCCL
  if (device.is_cuda()) {
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, world.rank, world.size, options);
    impl_->allreduce = [pg](std::vector<at::Tensor>& t) { return pg->allreduce(t, c10d::AllreduceOptions()); };
    impl_->keep = pg;
    impl_->backend = "nccl";
    return;
  }
#endif
#if GT_HAVE_GLOO
  try {
    auto options = c10d::ProcessGroupGloo::Options::create();
    options->timeout = timeout;
    // Loopback for a group on this host; otherwise the interface this host's name resolves to (GLOO_SOCKET_IFNAME
    // is not read here).
    const bool local = world.master_addr == "127.0.0.1" || world.master_addr == "localhost";
    options->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, world.rank, world.size, options);
    impl_->allreduce = [pg](std::vector<at::Tensor>& t) { return pg->allreduce(t, c10d::AllreduceOptions()); };
    impl_->keep = pg;
    impl_->backend = "gloo";
  } catch (const std::exception& e) {
    fail_input(where, ": cannot form the Gloo process group: ", first_line(e));
  }
#else
  fail_input(where, ": this gemma-tune has NCCL (CUDA) only: its libtorch came without Gloo's headers (pip's PyTorch "
             "ships none), so processes on ", device.str(), " cannot be joined; train with --device cuda");
#endif
}

ProcessGroup::~ProcessGroup() = default;

const std::string& ProcessGroup::backend() const { return impl_->backend; }

std::function<void()> ProcessGroup::start_all_reduce_sum(std::vector<at::Tensor> tensors) {
  const std::string where = cat("rank ", world_.rank, " of ", world_.size);
  auto failed = [where](const std::exception& e) {
    fail_input(where, ": summing across the processes failed (did another process stop?): ", first_line(e));
  };
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = impl_->allreduce(tensors);
  } catch (const std::exception& e) {
    failed(e);
  }
  // The work holds the tensors it sums until it is waited for.
  return [work, failed, keep = std::move(tensors)] {
    try {
      work->wait();
    } catch (const std::exception& e) {
      failed(e);
    }
  };
}

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor> tensors) { start_all_reduce_sum(std::move(tensors))(); }

std::string ProcessGroup::share_from_main(const std::string& key, const std::string& text_on_main) {
  const std::string k = "gemma-tune/" + key;
  if (world_.main()) {
    impl_->store->set(k, std::vector<uint8_t>(text_on_main.begin(), text_on_main.end()));
    return text_on_main;
  }
  const std::vector<uint8_t> v = impl_->store->get(k);
  return std::string(v.begin(), v.end());
}

struct GradientSync::Impl {
  ProcessGroup& group;
  at::Tensor flat;  // AdamW's flat gradient buffer
  struct Bucket {
    int64_t offset = 0, size = 0;  // its range of `flat`
    size_t params = 0;             // how many parameters' spans it holds
  };
  std::vector<Bucket> buckets;    // buckets[0] ends the buffer
  std::vector<size_t> bucket_of;  // per parameter
  std::vector<std::pair<at::Tensor, unsigned>> hooks;
  // Per step, under `mu` (hooks run on the autograd engine's threads).
  std::mutex mu;
  bool armed = false;
  std::vector<char> fired;        // per parameter: its gradient of this backward pass has arrived
  std::vector<size_t> fired_in;   // per bucket
  size_t next = 0;                // the next bucket to send
  size_t overlapped = 0;          // sent before finish() in the last step
  std::vector<std::function<void()>> waits;

  explicit Impl(ProcessGroup& g) : group(g) {}

  void send_complete_buckets() {
    // A bucket's last gradient reaches the buffer (AccumulateGrad) only after the hook that announced it; the engine
    // runs one node at a time per device, so by the next parameter's hook it is there (and on CUDA it is queued on
    // the stream the collective waits for).
    while (next < buckets.size() && fired_in[next] == buckets[next].params) send(next++);
  }
  void send(size_t b) { waits.push_back(group.start_all_reduce_sum({flat.narrow(0, buckets[b].offset, buckets[b].size)})); }

  void on_gradient(size_t param) {
    std::lock_guard lock(mu);
    if (!armed) return;
    send_complete_buckets();
    GT_CHECK(!fired[param] || bucket_of[param] >= next, "GradientSync: parameter ", param,
             " received a second gradient in one backward pass after its bucket was sent");
    if (!fired[param]) {
      fired[param] = 1;
      ++fired_in[bucket_of[param]];
    }
  }
};

GradientSync::GradientSync(ProcessGroup& group, AdamW& optimizer, size_t bucket_bytes)
    : impl_(std::make_unique<Impl>(group)) {
  Impl& s = *impl_;
  optimizer.accumulate_in_place();  // buckets are ranges of one lasting buffer that backward adds into
  s.flat = optimizer.flat_grad();
  const auto& spans = optimizer.spans();
  const int64_t per_bucket = std::max<int64_t>(1, static_cast<int64_t>(bucket_bytes) / s.flat.element_size());
  s.bucket_of.assign(spans.size(), 0);
  // From the last parameter back: spans are consecutive, so each bucket is one range.
  int64_t end = s.flat.numel();
  for (size_t i = spans.size(); i-- > 0;) {
    if (s.buckets.empty() || s.buckets.back().size >= per_bucket) {
      s.buckets.push_back({end, 0, 0});
    }
    Impl::Bucket& b = s.buckets.back();
    GT_CHECK(spans[i].first + spans[i].second == b.offset, "GradientSync: gradient spans are not consecutive");
    b.offset = spans[i].first;
    b.size += spans[i].second;
    ++b.params;
    s.bucket_of[i] = s.buckets.size() - 1;
    end = spans[i].first;
  }
  const auto& params = optimizer.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i].second;
    s.hooks.emplace_back(p, p.register_hook([impl = impl_.get(), i](const at::Tensor&) { impl->on_gradient(i); }));
  }
}

GradientSync::~GradientSync() {
  for (auto& [p, h] : impl_->hooks) p.remove_hook(h);
}

void GradientSync::arm() {
  std::lock_guard lock(impl_->mu);
  impl_->armed = true;
  impl_->next = 0;
  impl_->fired.assign(impl_->bucket_of.size(), 0);
  impl_->fired_in.assign(impl_->buckets.size(), 0);
  impl_->waits.clear();
}

void GradientSync::finish() {
  Impl& s = *impl_;
  std::vector<std::function<void()>> waits;
  {
    std::lock_guard lock(s.mu);
    GT_CHECK(s.armed, "GradientSync::finish without arm()");
    // The rest, in order: the buckets the backward pass completed last, and any whose parameters had no gradient
    // in it (a rank without rows; such a bucket holds what earlier micro-batches accumulated, or zeros).
    s.overlapped = s.next;
    while (s.next < s.buckets.size()) s.send(s.next++);
    s.armed = false;
    waits.swap(s.waits);
  }
  for (auto& wait : waits) wait();
}

size_t GradientSync::buckets() const { return impl_->buckets.size(); }
size_t GradientSync::sent_during_backward() const { return impl_->overlapped; }

#else  // no c10d in this libtorch

struct ProcessGroup::Impl {};
ProcessGroup::ProcessGroup(const World& world, const at::Device&, std::chrono::milliseconds) : world_(world) {
  fail_input("this gemma-tune was built without a c10d backend (Gloo's or NCCL's headers), so it cannot train "
             "with ", world.size, " processes; use one process, or rebuild with them (Debian: libgloo-dev; CUDA: "
             "NCCL's nccl.h, e.g. from the nvidia-nccl wheel beside PyTorch)");
}
ProcessGroup::~ProcessGroup() = default;
const std::string& ProcessGroup::backend() const {
  static const std::string none = "none";
  return none;
}
void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>) {}
std::function<void()> ProcessGroup::start_all_reduce_sum(std::vector<at::Tensor>) { return [] {}; }
std::string ProcessGroup::share_from_main(const std::string&, const std::string& text) { return text; }
struct GradientSync::Impl {};
GradientSync::GradientSync(ProcessGroup&, AdamW&, size_t) {}
GradientSync::~GradientSync() = default;
void GradientSync::arm() {}
void GradientSync::finish() {}
size_t GradientSync::buckets() const { return 0; }
size_t GradientSync::sent_during_backward() const { return 0; }

#endif

}  // namespace gt::train
