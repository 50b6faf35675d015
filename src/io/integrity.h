// Integrity manifests of run folders: `.integrity.json` lists the sha256 and size of every file under the folder
// (the manifest itself excluded), so a copied or archived run can be checked. Torch-free; hashing by OpenSSL.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gt::io {

// sha256 of a file's bytes as lowercase hex. Throws gt::InputError when the file cannot be read.
std::string sha256_file(const std::string& path);
// sha256 of `data` as lowercase hex.
std::string sha256_hex(std::string_view data);

// Writes <dir>/.integrity.json for every regular file under dir (recursively).
void write_integrity_manifest(const std::string& dir);

// Problems found, one line each ("missing: adapter/adapter_model.safetensors", "changed: ...", "extra: ...");
// empty when the folder matches its manifest. Throws gt::InputError when there is no manifest.
std::vector<std::string> verify_integrity_manifest(const std::string& dir);

}  // namespace gt::io
