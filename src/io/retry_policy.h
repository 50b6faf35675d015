// When and how long to wait before retrying a failed HTTP(S) / Cloud Storage call. Torch-free.
//
// Google's guidance for Cloud Storage (and Google APIs in general) is truncated exponential backoff with jitter:
// retry on HTTP 408, 429 and 5xx and on connection errors, waiting longer after each failure, never longer than a
// cap, with randomness so that many clients that failed together do not retry together. This file implements the
// "full jitter" variant:
//
//   delay(attempt) = U(0, min(max_s, initial_s * multiplier^attempt))      attempt = 0, 1, 2, ...
//
// where attempt counts the failures before this wait (0 before the first retry) and U(a, b) is uniform on [a, b).
// With the defaults the upper bounds run 0.5, 1, 2, 4, 8, 16, 32, 32, ... seconds; the expected total wait over the
// 7 retries of 8 attempts is about 31.75 s. `seed` makes the schedule reproducible (tests); 0 means "seed from
// std::random_device" (production, so concurrent processes draw different delays).
//
// The wait itself goes through RetryPolicy::sleep, which tests replace with a no-op (or a recorder) so they run fast.
#pragma once

#include <cstdint>
#include <functional>
#include <random>

namespace gt::io {

struct RetryPolicy {
  int max_attempts = 8;       // tries in all, the first included (1 = never retry)
  double initial_s = 0.5;     // upper bound of the first wait
  double max_s = 32;          // cap on any one wait's upper bound
  double multiplier = 2;      // growth of the upper bound per failure
  uint64_t seed = 0;          // jitter seed; 0 = std::random_device
  // Performs a wait of `seconds`; empty = std::this_thread::sleep_for. Tests inject a no-op or a recorder.
  std::function<void(double seconds)> sleep;

  // A generator seeded from `seed` (or std::random_device when seed == 0).
  std::mt19937_64 make_rng() const;
  // Calls `sleep` (or sleeps for real when it is empty).
  void wait(double seconds) const;

  // The full-jitter delay before retry number attempt+1 (attempt = failures so far - 1, starting at 0), in
  // seconds: uniform in [0, min(max_s, initial_s * multiplier^attempt)). Always finite, >= 0 and < max_s (0 when
  // max_s <= 0 or initial_s <= 0).
  double backoff_seconds(int attempt, std::mt19937_64& rng) const;
  // The upper bound of backoff_seconds: min(max_s, initial_s * multiplier^attempt), computed without overflow.
  double backoff_cap_seconds(int attempt) const;
};

// Whether an HTTP status is worth retrying: 408 (request timeout), 429 (too many requests) and every 5xx.
bool retryable_status(int http_status);

}  // namespace gt::io
