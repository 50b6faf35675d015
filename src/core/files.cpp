#include "core/files.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace gt {

namespace {
int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = (type == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  return rc == 0 || errno == ENOENT ? 0 : -1;
}
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail_input(path, ": cannot remove (", std::strerror(errno), ")");
    return;
  }
  if (::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fail_input(path, ": cannot remove the folder (", std::strerror(errno), ")");
}

void make_output_folder(const std::string& path, const std::string& what) {
  auto fail = [&](const std::string& at, int err) {
    fail_input(what, ": cannot create or write the folder ", at == path ? "" : at + " of ", path, " (",
               std::strerror(err), "); choose a writable folder");
  };
  // Each prefix in turn, as `mkdir -p` does; an existing folder is fine, anything else in the way is not.
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    const std::string part = pos == std::string::npos ? path : path.substr(0, pos);
    if (!part.empty() && ::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) fail(part, errno);
    struct stat st {};
    if (!part.empty() && ::stat(part.c_str(), &st) != 0) fail(part, errno);
    if (!part.empty() && !S_ISDIR(st.st_mode)) fail(part, ENOTDIR);
    if (pos == std::string::npos) break;
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) fail(path, errno);
}

namespace {
[[noreturn]] void fail_write(const std::string& file, int err) {
  fail_input(file, ": cannot write (", std::strerror(err), "); the disk may be full");
}
}  // namespace

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail_write(path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail_write(path, err);
}

void write_synced(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) fail_write(path, errno);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail_write(path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail_write(path, err);
  }
  if (::close(fd) != 0) fail_write(path, errno);
}

}  // namespace gt
