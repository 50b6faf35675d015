#include "io/json_section.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace gt::io {

using nlohmann::json;

namespace {

const json& empty_object() {
  static const json e = json::object();
  return e;
}

// An integer that fits int64_t: a JSON integer (an unsigned one up to INT64_MAX), or a float with no fraction inside
// [-2^63, 2^63) (2.0, 1e3). Anything wider, such as 1e51, would not survive the conversion (undefined for a double).
bool is_integer(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max());
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d && d >= -0x1p63 && d < 0x1p63;
}

int64_t as_integer(const json& v) {
  return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
}

}  // namespace

JsonSection::JsonSection(const json& j, std::string file, std::string prefix)
    : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {}

json JsonSection::parse_object(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail_input(where, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail_input(where, " is ", j.dump(), ", expected an object");
  return j;
}

bool JsonSection::has(const char* key) const {
  auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

const json& JsonSection::raw(const char* key) const { return j_.at(key); }

std::string JsonSection::where(const char* key) const {
  return file_.empty() ? cat(prefix_, key) : cat(file_, ": ", prefix_, key);
}

JsonSection JsonSection::section(const char* key) const {
  if (!has(key)) return JsonSection(empty_object(), file_, cat(prefix_, key, "."));
  if (!j_[key].is_object()) fail(key, "an object");
  return JsonSection(j_[key], file_, cat(prefix_, key, "."));
}

void JsonSection::fail(const char* key, const char* expected) const {
  fail_input(where(key), " is ", j_.contains(key) ? j_[key].dump() : std::string("missing"), ", expected ", expected);
}

int64_t JsonSection::integer(const char* key, std::optional<int64_t> def) const {
  if (!has(key)) {
    if (!def) fail_input(where(key), " is missing");
    return *def;
  }
  if (!is_integer(j_[key])) fail(key, "an integer");
  return as_integer(j_[key]);
}

double JsonSection::number(const char* key, std::optional<double> def) const {
  if (!has(key)) {
    if (!def) fail_input(where(key), " is missing");
    return *def;
  }
  if (!j_[key].is_number()) fail(key, "a number");
  return j_[key].get<double>();
}

bool JsonSection::boolean(const char* key, std::optional<bool> def) const {
  if (!has(key)) {
    if (!def) fail_input(where(key), " is missing");
    return *def;
  }
  if (!j_[key].is_boolean()) fail(key, "true or false");
  return j_[key].get<bool>();
}

std::string JsonSection::string(const char* key, std::optional<std::string> def) const {
  if (!has(key)) {
    if (!def) fail_input(where(key), " is missing");
    return *def;
  }
  if (!j_[key].is_string()) fail(key, "a string");
  return j_[key].get<std::string>();
}

std::optional<int64_t> JsonSection::optional_integer(const char* key) const {
  if (!has(key)) return std::nullopt;
  return integer(key);
}

std::vector<int64_t> JsonSection::integers(const char* key, std::vector<int64_t> def) const {
  if (!has(key)) return def;
  const json& v = j_[key];
  if (is_integer(v)) return {as_integer(v)};
  if (!v.is_array()) fail(key, "an integer or a list of integers");
  std::vector<int64_t> out;
  for (const json& e : v) {
    if (!is_integer(e)) fail_input(where(key), " holds ", e.dump(), ", expected integers");
    out.push_back(as_integer(e));
  }
  return out;
}

void JsonSection::read(const char* key, int64_t& out) const { out = integer(key, out); }
void JsonSection::read(const char* key, double& out) const { out = number(key, out); }
void JsonSection::read(const char* key, bool& out) const { out = boolean(key, out); }
void JsonSection::read(const char* key, std::string& out) const { out = string(key, out); }

void JsonSection::read(const char* key, std::vector<int64_t>& out) const {
  if (!has(key)) return;
  if (!j_[key].is_array()) fail(key, "a list of integers");
  out = integers(key, {});
}

void JsonSection::read(const char* key, std::vector<double>& out) const {
  if (!has(key)) return;
  if (!j_[key].is_array()) fail(key, "null or a list of numbers");
  out.clear();
  for (const json& e : j_[key]) {
    if (!e.is_number()) fail_input(where(key), " holds ", e.dump(), ", expected numbers only");
    out.push_back(e.get<double>());
  }
}

void JsonSection::read(const char* key, std::array<int64_t, 2>& out) const {
  if (!has(key)) return;
  const json& v = j_[key];
  if (!v.is_array() || v.size() != 2 || !is_integer(v[0]) || !is_integer(v[1])) fail(key, "a list of 2 integers");
  out = {as_integer(v[0]), as_integer(v[1])};
}

void JsonSection::read(const char* key, std::array<std::array<int64_t, 2>, 2>& out) const {
  if (!has(key)) return;
  const json& v = j_[key];
  bool ok = v.is_array() && v.size() == 2;
  for (size_t i = 0; ok && i < 2; ++i) ok = v[i].is_array() && v[i].size() == 2 && is_integer(v[i][0]) && is_integer(v[i][1]);
  if (!ok) fail(key, "2 pairs of integers, e.g. [[3, 3], [3, 3]]");
  for (size_t i = 0; i < 2; ++i) out[i] = {as_integer(v[i][0]), as_integer(v[i][1])};
}

}  // namespace gt::io
