#include "io/integrity.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>

#include "core/error.h"

namespace fs = std::filesystem;

namespace gt::io {

namespace {
constexpr const char* kManifest = ".integrity.json";

std::map<std::string, fs::path> files_under(const fs::path& dir) {
  std::map<std::string, fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string rel = fs::relative(e.path(), dir).generic_string();
    if (rel == kManifest || (rel.size() > 4 && rel.substr(rel.size() - 4) == ".tmp")) continue;
    out[rel] = e.path();
  }
  return out;
}

std::string lower_hex(const unsigned char* bytes, unsigned n) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 15];
  }
  return out;
}
}  // namespace

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, ": cannot read");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return lower_hex(md, len);
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL's SHA-256 failed");
  return lower_hex(md, len);
}

void write_integrity_manifest(const std::string& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [rel, path] : files_under(dir))
    files[rel] = {{"sha256", sha256_file(path.string())}, {"size", fs::file_size(path)}};
  nlohmann::json j = {{"algorithm", "sha256"}, {"files", files}};
  const fs::path p = fs::path(dir) / kManifest;
  {
    std::ofstream out(p.string() + ".tmp");
    out << j.dump(2) << "\n";
  }
  fs::rename(p.string() + ".tmp", p);
}

std::vector<std::string> verify_integrity_manifest(const std::string& dir) {
  const fs::path p = fs::path(dir) / kManifest;
  if (!fs::exists(p)) fail_input(p.string(), ": no integrity manifest");
  std::ifstream in(p);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_object())
    fail_input(p.string(), ": not a valid manifest (expected {\"files\": {path: {\"sha256\", \"size\"}}})");
  std::vector<std::string> problems;
  auto present = files_under(dir);
  for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
    auto f = present.find(it.key());
    if (f == present.end()) {
      problems.push_back("missing: " + it.key());
      continue;
    }
    const nlohmann::json& e = it.value();
    if (!e.is_object() || !e.contains("size") || !e["size"].is_number_unsigned() || !e.contains("sha256") ||
        !e["sha256"].is_string())
      fail_input(p.string(), ": the entry of ", it.key(), " is ", e.dump(), ", expected {\"sha256\": hex, \"size\": bytes}");
    if (fs::file_size(f->second) != e["size"].get<uint64_t>() ||
        sha256_file(f->second.string()) != e["sha256"].get<std::string>())
      problems.push_back("changed: " + it.key());
    present.erase(f);
  }
  for (const auto& [rel, path] : present) problems.push_back("extra: " + rel);
  return problems;
}

}  // namespace gt::io
