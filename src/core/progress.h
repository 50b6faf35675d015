// A one-line progress display for long work (training steps, evaluation, preparing data) on standard error.
// On a terminal the line is redrawn in place (at most 10 times a second); when standard error is a file or a pipe,
// a plain line is printed every `plain_every_s` seconds instead, so logs stay readable. Torch-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gt {

class Progress {
 public:
  // `total` units of work (0 = unknown), `label` printed first ("train", "eval").
  Progress(std::string label, int64_t total, double plain_every_s = 10.0);
  ~Progress();
  // Sets the position (units done since the start, including `start_at`) and the fields shown after the bar.
  void update(int64_t done, const std::string& fields);
  // Leaves the line as it is and moves to a new one.
  void finish(const std::string& fields = "");
  // Starts counting rate/ETA from `done` (after a resume).
  void start_at(int64_t done);
  // Prints a message above the bar without garbling it.
  void message(const std::string& text);
  // Estimated seconds left (NaN when unknown).
  double eta_seconds() const;

 private:
  void draw(bool force);
  std::string label_;
  int64_t total_, done_ = 0, first_ = 0;
  int64_t last_printed_ = -1;  // plain (non-terminal) mode: the position of the last line printed
  std::string fields_;
  bool tty_;
  bool finished_ = false;
  double plain_every_s_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

bool stderr_is_terminal();

}  // namespace gt
