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

}  // namespace gt
