// Data-parallel training (issue #14): one process per GPU (or per CPU worker), each with the whole model, each
// training on its rows of every global batch; the adapter's gradients are summed across processes before the
// optimizer step, so every process takes the same step and holds the same weights.
//
// The processes meet through libtorch's distributed package (c10d): a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT
// and a process group, NCCL between CUDA devices (where libtorch has it), Gloo otherwise (CPU runs, and the CI test
// of this logic). They are told their place by the variables torchrun sets: RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT; `train --nproc N` starts N such processes on this host (train/launcher.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gt::train {

struct World {
  int rank = 0, size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool distributed() const { return size > 1; }
  bool main() const { return rank == 0; }
};

// The world the environment describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); one process alone
// when WORLD_SIZE is unset or 1. Throws gt::InputError naming the variable that is missing or malformed.
World world_from_env();

// The processes' group. Every call below is collective: each process must make it, in the same order.
class ProcessGroup {
 public:
  // Joins the group (rank 0 serves the TCPStore) for tensors on `device`: NCCL for CUDA where available, Gloo
  // otherwise. Waits at most `timeout` for the others, at the start and in every collective.
  ProcessGroup(const World& world, const at::Device& device, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  const World& world() const { return world_; }
  // "nccl" or "gloo".
  const std::string& backend() const;

  // Sums each tensor across the processes, in place (tensors on the group's device).
  void all_reduce_sum(std::vector<at::Tensor> tensors);
  // The same, started: the returned function waits for it. The tensors must not be touched until then.
  std::function<void()> start_all_reduce_sum(std::vector<at::Tensor> tensors);
  // Rank 0's text, on every rank (the run folder's path).
  std::string share_from_main(const std::string& key, const std::string& text_on_main);

 private:
  struct Impl;
  World world_;
  std::unique_ptr<Impl> impl_;
};

class AdamW;

// Sums the adapter's gradients (AdamW's flat gradient buffer) across the processes in buckets of about
// `bucket_bytes`, each sent while the backward pass goes on, as soon as it has produced all of that bucket's
// gradients. Buckets are ranges of the buffer from its end (the last layers', which backward reaches first) and are
// sent in bucket order on every rank, as collectives must be. Only the backward pass after arm() is overlapped; what
// earlier micro-batches accumulated is summed with it.
class GradientSync {
 public:
  GradientSync(ProcessGroup& group, AdamW& optimizer, size_t bucket_bytes = size_t{25} << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // The next backward pass is the step's last: its buckets are sent as they fill.
  void arm();
  // After that backward pass (or instead of it, on a rank with no rows in it): sends the buckets not yet sent, waits
  // for all, and leaves the gradient buffer holding the sum over the processes.
  void finish();
  size_t buckets() const;
  // Of the last finish()'s buckets, how many were sent while the backward pass still ran.
  size_t sent_during_backward() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gt::train
