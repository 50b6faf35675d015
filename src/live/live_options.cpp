#include "live/live_options.h"

#include "core/error.h"

namespace gt::live {

LiveOptions live_options(const std::string& live, const std::string& host) {
  LiveOptions o;
  o.host = host;
  o.next_free_port = live == "auto" || live.empty();
  if (!o.next_free_port) {
    const bool digits = live.size() <= 5 && live.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stol(live) > 65535)
      fail_input("--live ", live, ": expected a port 1-65535, 0 (any free port), or nothing (8080 or the next free)");
    o.port = static_cast<int>(std::stol(live));
  }
  return o;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace gt::live
