// CSV output as RFC 4180 writes it, so spreadsheets and data/csv_reader.h read it back: fields with a comma, a
// quote, a line break or edge spaces are quoted, quotes doubled; records end with LF. Torch-free.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gt::data {

// One field as it appears in a record.
std::string csv_field(std::string_view value);
// One record (fields joined by commas) with its line end.
std::string csv_record(const std::vector<std::string>& fields);

}  // namespace gt::data
