// train::GradientSync and ProcessGroup over c10d's Gloo backend, two ranks as two threads of this process: the
// adapter's gradients summed across ranks and micro-batches, with buckets sent while backward runs.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <thread>

#include "core/system_info.h"
#include "train/distributed.h"
#include "train/launcher.h"
#include "train/optimizer.h"

namespace {


// Parameter i of rank r's micro-batch m is multiplied by (i + 1) * (10 r + m + 1), so its gradient sums to a known
// number.
double factor(size_t i, int rank, int micro) { return static_cast<double>(i + 1) * (10 * rank + micro + 1); }

TEST(GradientSync, SumsEveryRanksMicroBatchesAndSendsBucketsDuringBackward) {
  if (gt::train::data_parallel_backends().find("gloo") == std::string::npos) GTEST_SKIP() << "this build has no Gloo";
  const int port = gt::free_loopback_port();
  const std::vector<int64_t> sizes = {3, 17, 5, 40, 8, 2, 33};
  std::vector<std::vector<at::Tensor>> grads(2);
  std::vector<size_t> buckets(2), early(2);
  std::vector<std::string> errors(2);
  auto rank_main = [&](int rank) {
    try {
      gt::train::World w;
      w.rank = rank;
      w.size = 2;
      w.master_port = port;
      gt::train::ProcessGroup group(w, at::Device(at::kCPU), std::chrono::seconds(30));
      EXPECT_EQ(group.backend(), "gloo");
      std::vector<std::pair<std::string, at::Tensor>> named;
      for (size_t i = 0; i < sizes.size(); ++i)
        named.emplace_back("p" + std::to_string(i), torch::zeros({sizes[i]}).requires_grad_(true));
      gt::train::AdamW opt(named, {});
      gt::train::GradientSync sync(group, opt, /*bucket_bytes=*/64);  // 16 floats: several buckets
      buckets[rank] = sync.buckets();
      for (int micro = 0; micro < 2; ++micro) {
        if (micro == 1) sync.arm();
        // One chain through every parameter, so backward reaches them one after another, last first.
        at::Tensor x = torch::ones({});
        for (size_t i = 0; i < named.size(); ++i) x = x + (named[i].second * factor(i, rank, micro)).sum();
        x.backward();
      }
      sync.finish();
      early[rank] = sync.sent_during_backward();
      for (auto& [n, p] : named) grads[rank].push_back(p.grad().clone());
      EXPECT_EQ(group.share_from_main("k", rank == 0 ? "from rank 0" : "ignored"), "from rank 0");
    } catch (const std::exception& e) {
      errors[rank] = e.what();
    }
  };
  std::thread r0(rank_main, 0), r1(rank_main, 1);
  r0.join();
  r1.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  EXPECT_GE(buckets[0], 4u);
  EXPECT_GE(early[0], 1u) << "no bucket was sent before backward ended";
  for (int rank = 0; rank < 2; ++rank)
    for (size_t i = 0; i < sizes.size(); ++i) {
      const double want = factor(i, 0, 0) + factor(i, 0, 1) + factor(i, 1, 0) + factor(i, 1, 1);
      EXPECT_TRUE(torch::allclose(grads[rank][i], torch::full({sizes[i]}, want))) << "rank " << rank << " p" << i;
    }
}

TEST(GradientSync, AMissingRankIsReportedAtTheRendezvous) {
  if (gt::train::data_parallel_backends().find("gloo") == std::string::npos) GTEST_SKIP() << "this build has no Gloo";
  gt::train::World w;
  w.rank = 1;
  w.size = 2;
  w.master_port = gt::free_loopback_port();  // nobody serves it
  try {
    gt::train::ProcessGroup group(w, at::Device(at::kCPU), std::chrono::seconds(2));
    FAIL() << "joined a group without rank 0";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no rendezvous"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("MASTER_ADDR"), std::string::npos) << e.what();
  }
}

}  // namespace
