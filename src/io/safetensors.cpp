#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/error.h"
#include "io/mapped_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::io {

namespace {

// A header larger than this is not a safetensors header (a corrupt length field, or another format).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& e, uint64_t data_size) {
  auto bad = [&](auto&&... parts) { fail_input(path, ": tensor '", name, "': ", parts...); };
  if (!e.is_object()) bad("header entry is ", e.type_name(), ", expected an object with dtype, shape, data_offsets");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!e.contains(key)) bad("header entry has no \"", key, "\"");
  TensorInfo t;
  t.name = name;
  if (!e["dtype"].is_string()) bad("dtype is ", e["dtype"].dump(), ", expected a string such as \"BF16\"");
  const std::string& dt = e["dtype"].get_ref<const std::string&>();
  std::optional<DType> parsed = parse_dtype(dt);
  if (!parsed) bad("unknown dtype \"", dt, "\"; gemma-tune reads F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
  t.dtype = *parsed;
  if (!e["shape"].is_array()) bad("shape is ", e["shape"].dump(), ", expected an array of sizes");
  // The sizes are any JSON integers: bound their product (of the non-zero ones too, so that no later product of the
  // shape overflows, whatever zero it holds) before the byte count is compared with data_offsets.
  uint64_t extent = 1;
  for (const json& d : e["shape"]) {
    if (!d.is_number_unsigned()) bad("shape ", e["shape"].dump(), " has a size that is not a non-negative integer");
    const uint64_t size = d.get<uint64_t>();
    if (size != 0 && (__builtin_mul_overflow(extent, size, &extent) || extent > (uint64_t{1} << 60)))
      bad("shape ", e["shape"].dump(), " is too large");
    t.shape.push_back(static_cast<int64_t>(size));
  }
  const json& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad("data_offsets is ", off.dump(), ", expected [begin, end]");
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  if (t.end < t.begin) bad("data_offsets ", off.dump(), " end before begin");
  if (t.end > data_size)
    bad("data_offsets ", off.dump(), " run past the end of the data section (", data_size,
        " bytes); the file is truncated or the header is wrong");
  uint64_t want = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
  if (t.nbytes() != want)
    bad("shape ", shape_string(t.shape), " of ", dt, " needs ", want, " bytes but data_offsets ", off.dump(), " span ",
        t.nbytes());
  if (t.begin % dtype_size(t.dtype) != 0)
    bad("data_offsets begin ", t.begin, " is not a multiple of the ", dt, " element size ", dtype_size(t.dtype),
        " (misaligned data)");
  return t;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------------------------------------------
// SafetensorsFile

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> map = MappedFile::open(path);
  const size_t size = map->size();
  if (size < 8)
    fail_input(path, ": truncated safetensors file: ", size, " bytes, but the format starts with an 8-byte header length");
  const uint64_t header_len = read_u64_le(map->data());
  if (header_len > kMaxHeaderBytes)
    fail_input(path, ": header length ", header_len, " is not plausible (at most ", kMaxHeaderBytes,
               "); is this a safetensors file?");
  if (header_len > size - 8)
    fail_input(path, ": header of ", header_len, " bytes runs past the end of the file (", size - 8,
               " bytes after the length field); the file is truncated");
  const char* hdr = reinterpret_cast<const char*>(map->data() + 8);
  json header;
  try {
    header = json::parse(hdr, hdr + header_len);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail_input(path, ": header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) fail_input(path, ": header is ", header.type_name(), ", expected a JSON object");

  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->data_start_ = 8 + header_len;
  const uint64_t data_size = size - f->data_start_;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail_input(path, ": __metadata__ is ", it->type_name(), ", expected an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail_input(path, ": __metadata__ value of \"", m.key(), "\" is not a string");
        f->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    f->tensors_.push_back(parse_entry(path, it.key(), it.value(), data_size));
  }
  std::sort(f->tensors_.begin(), f->tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  for (size_t i = 1; i < f->tensors_.size(); ++i) {
    const TensorInfo& prev = f->tensors_[i - 1];
    const TensorInfo& cur = f->tensors_[i];
    if (cur.begin < prev.end && cur.nbytes() > 0 && prev.nbytes() > 0)
      fail_input(path, ": tensor '", cur.name, "' data [", cur.begin, ", ", cur.end, ") overlaps tensor '", prev.name,
                 "' [", prev.begin, ", ", prev.end, ")");
  }
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->by_name_.emplace(f->tensors_[i].name, i);
  f->map_ = std::move(map);
  return f;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

TensorView SafetensorsFile::view(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (!t) fail_input(path_, ": no tensor named '", name, "'");
  TensorView v;
  v.info = *t;
  v.file = path_;
  v.data = map_->data() + data_start_ + t->begin;
  v.owner = map_;
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoint

struct Checkpoint::Shards {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const SafetensorsFile>> open;  // by file path
  size_t count = 0;

  std::shared_ptr<const SafetensorsFile> get(const std::string& file) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = open.find(file);
    if (it != open.end()) return it->second;
    auto f = SafetensorsFile::open(file);
    open.emplace(file, f);
    return f;
  }
};

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.shards_ = std::make_shared<Shards>();
  fs::path p(path);
  if (!fs::exists(p)) fail_input(path, ": no such file or folder");
  if (!fs::is_directory(p)) {
    c.folder_ = p.parent_path().string();
    auto f = c.shards_->get(p.string());
    for (const TensorInfo& t : f->tensors()) c.file_by_name_.emplace(t.name, p.string());
  } else {
    c.folder_ = p.string();
    fs::path index = p / kIndexFile;
    if (fs::exists(index)) {
      c.index_path_ = index.string();
      std::ifstream in(index);
      json j;
      try {
        j = json::parse(in);
      } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        fail_input(index.string(), ": not valid JSON (", e.what(), ")");
      }
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        fail_input(index.string(), ": expected an object with \"weight_map\": {tensor name: shard file}");
      if (j.contains("metadata") && j["metadata"].is_object())
        for (auto m = j["metadata"].begin(); m != j["metadata"].end(); ++m)
          c.index_metadata_[m.key()] = m->is_string() ? m->get<std::string>() : m->dump();
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it->is_string()) fail_input(index.string(), ": weight_map entry '", it.key(), "' is not a file name");
        fs::path shard = p / it->get<std::string>();
        if (!fs::exists(shard))
          fail_input(index.string(), ": tensor '", it.key(), "' is in shard ", it->get<std::string>(),
                     ", which does not exist in ", p.string());
        c.file_by_name_.emplace(it.key(), shard.string());
      }
    } else {
      fs::path single = p / kSingleFile;
      if (!fs::exists(single)) {
        std::vector<fs::path> found;
        for (const auto& e : fs::directory_iterator(p))
          if (e.path().extension() == ".safetensors") found.push_back(e.path());
        if (found.size() != 1)
          fail_input(path, ": no ", kIndexFile, " and no ", kSingleFile, " (found ", found.size(),
                     " other .safetensors files); is this a Hugging Face model folder?");
        single = found[0];
      }
      auto f = c.shards_->get(single.string());
      for (const TensorInfo& t : f->tensors()) c.file_by_name_.emplace(t.name, single.string());
    }
  }
  std::map<std::string, int> files;
  for (const auto& [name, file] : c.file_by_name_) {
    c.names_.push_back(name);
    files[file] = 1;
  }
  c.shards_->count = files.size();
  return c;
}

bool Checkpoint::contains(std::string_view name) const { return file_by_name_.find(name) != file_by_name_.end(); }

std::string Checkpoint::describe() const { return index_path_.empty() ? folder_ : index_path_; }

const std::string& Checkpoint::file_of(std::string_view name) const {
  auto it = file_by_name_.find(name);
  if (it == file_by_name_.end()) fail_input(describe(), ": checkpoint has no tensor named '", name, "'");
  return it->second;
}

const TensorInfo& Checkpoint::info(std::string_view name) const {
  const std::string& file = file_of(name);
  auto f = shards_->get(file);
  const TensorInfo* t = f->find(name);
  if (!t)
    fail_input(index_path_.empty() ? file : index_path_, ": lists tensor '", name, "' in ", file,
               ", but that file does not hold it");
  return *t;
}

TensorView Checkpoint::view(std::string_view name) const {
  info(name);  // validates presence with the index-aware message
  return shards_->get(file_of(name))->view(name);
}

void Checkpoint::expect_shape(std::string_view name, const std::vector<int64_t>& expected, std::string_view why) const {
  const TensorInfo& t = info(name);
  if (t.shape != expected)
    fail_input(file_of(name), ": tensor '", name, "' has shape ", shape_string(t.shape), ", expected ",
               shape_string(expected), " (", why, "); are config.json and the weights from the same model?");
}

std::map<std::string, std::string> Checkpoint::metadata() const {
  if (!index_path_.empty()) return index_metadata_;
  if (file_by_name_.empty()) return {};
  return shards_->get(file_by_name_.begin()->second)->metadata();
}

size_t Checkpoint::shard_count() const { return shards_->count; }

size_t Checkpoint::opened_shard_count() const {
  std::lock_guard<std::mutex> lock(shards_->mu);
  return shards_->open.size();
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

void write_safetensors(const std::string& path, const std::vector<TensorBytes>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorBytes*> order;
  for (const TensorBytes& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorBytes* a, const TensorBytes* b) {
    size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorBytes& t = *order[i];
    if (i > 0 && order[i - 1]->name == t.name) fail_input(path, ": tensor '", t.name, "' given twice");
    if (t.name == "__metadata__" || t.name.empty()) fail_input(path, ": invalid tensor name '", t.name, "'");
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fail_input(path, ": tensor '", t.name, "' has a negative size in shape ", shape_string(t.shape));
      numel *= d;
    }
    if (static_cast<uint64_t>(numel) * dtype_size(t.dtype) != t.nbytes)
      fail_input(path, ": tensor '", t.name, "' shape ", shape_string(t.shape), " of ", dtype_name(t.dtype), " needs ",
                 numel * dtype_size(t.dtype), " bytes, given ", t.nbytes);
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  // Names with the same size sort equal only when they are equal, so duplicates are adjacent (checked above)
  // unless they differ in dtype size; catch that case through the header size.
  if (header.size() != order.size() + (metadata.empty() ? 0 : 1)) fail_input(path, ": duplicate tensor names");
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail_input(tmp, ": cannot open for writing");
    unsigned char len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const TensorBytes* t : order) out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->nbytes));
    out.flush();
    if (!out) fail_input(tmp, ": write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fail_input(path, ": cannot move ", tmp, " into place (", ec.message(), ")");
}

void write_safetensors_index(const std::string& folder, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size) {
  json j = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  fs::path p = fs::path(folder) / kIndexFile;
  std::string tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) fail_input(tmp, ": write failed");
  }
  fs::rename(tmp, p);
}

}  // namespace gt::io
