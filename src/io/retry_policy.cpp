#include "io/retry_policy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace gt::io {

std::mt19937_64 RetryPolicy::make_rng() const {
  if (seed != 0) return std::mt19937_64(seed);
  std::random_device rd;
  return std::mt19937_64((uint64_t(rd()) << 32) ^ uint64_t(rd()));
}

void RetryPolicy::wait(double seconds) const {
  if (sleep) {
    sleep(seconds);
    return;
  }
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

double RetryPolicy::backoff_cap_seconds(int attempt) const {
  if (max_s <= 0 || initial_s <= 0) return 0;
  double cap = initial_s;
  // Grow step by step and stop at the cap, so a large attempt number never overflows to inf.
  for (int i = 0; i < attempt && cap < max_s; ++i) cap *= std::max(multiplier, 1.0);
  return std::min(cap, max_s);
}

double RetryPolicy::backoff_seconds(int attempt, std::mt19937_64& rng) const {
  const double cap = backoff_cap_seconds(std::max(attempt, 0));
  if (cap <= 0) return 0;
  // Full jitter: the whole interval [0, cap) is equally likely (uniform_real_distribution excludes cap).
  std::uniform_real_distribution<double> u(0.0, cap);
  return u(rng);
}

bool retryable_status(int http_status) {
  return http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599);
}

}  // namespace gt::io
