// Typed reads of one sub-config of config.json (vision_config, audio_config, ...), with transformers' default when
// a key is absent or null, and an error naming the file, the key and the expected type otherwise. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <type_traits>

#include "core/error.h"

namespace gt::models {

template <typename T>
T config_value_or(const nlohmann::json& j, const char* section, const char* key, T def, const std::string& where,
                  const char* expected) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const nlohmann::json& v = j[key];
  const bool ok = std::is_same_v<T, bool>         ? v.is_boolean()
                  : std::is_integral_v<T>         ? v.is_number_integer()
                  : std::is_floating_point_v<T>   ? v.is_number()
                                                  : v.is_string();
  if (!ok) fail_input(where, ": ", section, ".", key, " is ", v.dump(), ", expected ", expected);
  return v.get<T>();
}

}  // namespace gt::models
