#include "core/system_info.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#include <mach/mach.h>
#include <sys/sysctl.h>
#endif

#include "core/error.h"

namespace gt {

SystemInfo system_info() {
  SystemInfo s;
  struct utsname u {};
  if (uname(&u) == 0) s.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  s.cpu_cores = std::thread::hardware_concurrency();
#if defined(__APPLE__)
  uint64_t mem = 0;
  size_t len = sizeof mem;
  if (sysctlbyname("hw.memsize", &mem, &len, nullptr, 0) == 0) s.memory_total = mem;
  vm_statistics64_data_t vm{};
  mach_msg_type_number_t count = HOST_VM_INFO64_COUNT;
  if (host_statistics64(mach_host_self(), HOST_VM_INFO64, reinterpret_cast<host_info64_t>(&vm), &count) == KERN_SUCCESS)
    s.memory_available = (uint64_t(vm.free_count) + vm.inactive_count) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
#else
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemTotal:") s.memory_total = kb * 1024;
    if (key == "MemAvailable:") s.memory_available = kb * 1024;
  }
#endif
  return s;
}

uint64_t disk_free_bytes(const std::string& path) {
  std::error_code ec;
  auto info = std::filesystem::space(path, ec);
  return ec ? 0 : info.available;
}

namespace {
std::vector<std::string>& command_line_store() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

void set_command_line(int argc, char** argv) { command_line_store().assign(argv, argv + argc); }
const std::vector<std::string>& command_line() { return command_line_store(); }

std::string this_executable() {
#if defined(__APPLE__)
  char path[4096];
  uint32_t size = sizeof path;
  if (_NSGetExecutablePath(path, &size) == 0) return std::filesystem::weakly_canonical(path).string();
#else
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return p.string();
#endif
  return command_line().empty() ? std::string() : command_line()[0];
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail_input("cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) fail_input("cannot find a free port on 127.0.0.1: ", std::strerror(err));
  return ntohs(a.sin_port);
}

}  // namespace gt
