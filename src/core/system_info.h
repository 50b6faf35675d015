// Facts about the machine for `doctor` and run metadata. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gt {

struct SystemInfo {
  std::string os;             // "Linux 6.1.0 x86_64"
  unsigned cpu_cores = 0;     // hardware threads
  uint64_t memory_total = 0;  // bytes, 0 when unknown
  uint64_t memory_available = 0;
};

SystemInfo system_info();
// Free bytes on the file system holding `path` (0 when unknown).
uint64_t disk_free_bytes(const std::string& path);

// This process's command line, as main() received it (set there), and the path of this program's file, for
// starting copies of the same command (`train --nproc`).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();
std::string this_executable();

// A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it; another process may take it before the caller
// binds it, a race callers accept). Throws gt::InputError when no socket can be had.
int free_loopback_port();

}  // namespace gt
