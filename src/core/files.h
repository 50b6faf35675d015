// File-system helpers that stay away from std::filesystem where it was seen to break. Torch-free.
//
// std::filesystem::remove_all crashed (a call through a null pointer) in binaries linked with the libtorch of
// the PyTorch 2.11 wheels, whose libraries carry their own copy of parts of libstdc++'s filesystem code; the same
// call works in binaries without libtorch. Removing trees with POSIX calls avoids the question entirely.
#pragma once

#include <string>

namespace gt {

// Removes a file or a folder with everything in it; a missing path is not an error. Throws gt::InputError naming
// the path when something cannot be removed.
void remove_tree(const std::string& path);

// Creates folder `path` and any missing parents (POSIX mkdir, mode 0777 less the umask) and checks that files can
// be created in it. Throws gt::InputError naming `what` (e.g. "--out") and the folder, with the system's reason
// (read-only file system, permission denied, a file in the way), instead of a library exception.
void make_output_folder(const std::string& path, const std::string& what);

// Flushes a file's or a folder's data to the disk (fsync(2)), so that a rename or a marker written after it never
// names bytes a power cut could still lose. Throws gt::InputError naming the path (a full or failing disk).
void sync_path(const std::string& path);
// Writes `content` to `path` (created 0600, or truncated) with every write(2), fsync(2) and close(2) checked: a full
// disk (ENOSPC) or a file size limit (EFBIG) is an error naming the file, never a silently short file.
void write_synced(const std::string& path, const std::string& content);

}  // namespace gt
