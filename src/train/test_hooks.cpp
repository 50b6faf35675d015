#include "train/test_hooks.h"

#include <csignal>
#include <cstdlib>

namespace gt::train {

void test_signal_at(const std::string& point) {
  const char* s = std::getenv("GT_TEST_SIGNAL_AT");
  if (!s) return;
  std::string spec = s;
  if (const size_t at = spec.find('@'); at != std::string::npos) {
    const char* rank = std::getenv("RANK");
    if (std::atoi(spec.c_str() + at + 1) != (rank ? std::atoi(rank) : 0)) return;
    spec.resize(at);
  }
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && spec.compare(0, colon, point) == 0 && colon == point.size())
    std::raise(std::atoi(spec.c_str() + colon + 1));
}

}  // namespace gt::train
