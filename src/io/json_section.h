// Typed reads of one JSON object: a section of config.json (text_config, audio_config, vision_config), a processor
// file (preprocessor_config.json, processor_config.json) or one of its sections. The same rules everywhere, as
// transformers' config classes read them: a key that is absent or null takes the default; an integer may be written
// 2.0; anything else of the wrong type stops with "<file>: <section>.<key> is <value>, expected <type>". Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gt::io {

class JsonSection {
 public:
  // `j` must outlive the section. Messages name "<file>: <prefix><key>"; prefix is e.g. "audio_config." or "".
  JsonSection(const nlohmann::json& j, std::string file, std::string prefix = "");

  // Parses `text` as a JSON object; throws gt::InputError naming `where` when it is not valid JSON or no object.
  static nlohmann::json parse_object(const std::string& text, const std::string& where);

  bool has(const char* key) const;  // present and not null
  const nlohmann::json& raw(const char* key) const;
  std::string where(const char* key) const;
  // The object under `key` as a section (prefix "<prefix><key>."); an empty object when absent or null.
  JsonSection section(const char* key) const;
  // This section's object as JSON text.
  std::string raw_json() const { return j_.dump(); }

  // Without a default, an absent key stops with "... is missing".
  int64_t integer(const char* key, std::optional<int64_t> def = std::nullopt) const;
  double number(const char* key, std::optional<double> def = std::nullopt) const;
  bool boolean(const char* key, std::optional<bool> def = std::nullopt) const;
  std::string string(const char* key, std::optional<std::string> def = std::nullopt) const;
  std::optional<int64_t> optional_integer(const char* key) const;
  // An integer or a list of integers (eos_token_id, or a list key).
  std::vector<int64_t> integers(const char* key, std::vector<int64_t> def) const;

  // Overwrite `out` when the key is present (the struct already holds the default).
  void read(const char* key, int64_t& out) const;
  void read(const char* key, double& out) const;
  void read(const char* key, bool& out) const;
  void read(const char* key, std::string& out) const;
  void read(const char* key, std::vector<int64_t>& out) const;  // a list of integers
  void read(const char* key, std::vector<double>& out) const;   // a list of numbers
  void read(const char* key, std::array<int64_t, 2>& out) const;  // a list of 2 integers
  void read(const char* key, std::array<std::array<int64_t, 2>, 2>& out) const;  // 2 pairs of integers

  [[noreturn]] void fail(const char* key, const char* expected) const;

 private:
  const nlohmann::json& j_;
  std::string file_;
  std::string prefix_;
};

}  // namespace gt::io
