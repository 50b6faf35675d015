#include "core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "core/strings.h"

namespace gt {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, double plain_every_s)
    : label_(std::move(label)), total_(total), tty_(stderr_is_terminal()), plain_every_s_(plain_every_s) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_ && tty_ && done_ > first_) std::cerr << "\n";
}

void Progress::start_at(int64_t done) {
  done_ = first_ = done;
  start_ = std::chrono::steady_clock::now();
}

double Progress::eta_seconds() const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (total_ <= 0 || done_ <= first_) return NAN;
  return elapsed / static_cast<double>(done_ - first_) * static_cast<double>(total_ - done_);
}

void Progress::update(int64_t done, const std::string& fields) {
  done_ = done;
  fields_ = fields;
  draw(false);
}

void Progress::draw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (!force && since < (tty_ ? 0.1 : plain_every_s_) && done_ != total_) return;
  if (!tty_ && done_ == last_printed_) return;  // a log file gets each position once
  last_printed_ = done_;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string line = label_ + " ";
  if (total_ > 0) {
    const int width = 24;
    const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int filled = static_cast<int>(std::round(frac * width));
    line += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    line += std::to_string(done_) + "/" + std::to_string(total_);
  } else {
    line += std::to_string(done_);
  }
  if (!fields_.empty()) line += "  " + fields_;
  line += "  " + format_duration(elapsed);
  const double eta = eta_seconds();
  if (std::isfinite(eta)) line += " (" + format_duration(eta) + " left)";
  if (tty_)
    std::cerr << "\r\033[K" << line << std::flush;
  else
    std::cerr << line << "\n" << std::flush;
}

void Progress::finish(const std::string& fields) {
  if (!fields.empty()) fields_ = fields;
  draw(true);
  if (tty_) std::cerr << "\n";
  finished_ = true;
}

void Progress::message(const std::string& text) {
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << text << "\n";
  if (tty_ && !finished_) draw(true);
}

}  // namespace gt
