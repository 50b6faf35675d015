// Whole-file reads for the row readers. Torch-free.
// Text datasets are read into memory at once: they are shuffled per epoch, so every example is held anyway.
#pragma once

#include <string>
#include <string_view>

namespace gt::data {

// The bytes of `path`. Throws gt::InputError naming the file when it is missing, a folder or unreadable.
std::string read_whole_file(const std::string& path);

// `text` without a leading UTF-8 byte order mark (EF BB BF), which spreadsheet programs write.
std::string_view strip_utf8_bom(std::string_view text);

}  // namespace gt::data
