#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>

#include "core/error.h"
#include "core/files.h"
#include "core/strings.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "train/test_hooks.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::train {

namespace {

std::vector<std::pair<int64_t, fs::path>> complete_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::exists(dir)) return out;
  static const std::regex name(R"(step-(\d+))");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string fname = e.path().filename().string();
    if (e.is_directory() && std::regex_match(fname, m, name) && fs::exists(e.path() / "DONE"))
      out.emplace_back(std::stoll(m[1].str()), e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The files of a checkpoint folder, every one needed by load_checkpoint.
const char* const kCheckpointFiles[] = {"adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors",
                                        "rng.safetensors", "trainer_state.json"};

// Why the checkpoint folder `dir` cannot be loaded ("" when it can): a missing or empty file, a safetensors file
// whose header or size is wrong (SafetensorsFile::open checks the data offsets against the file size), or
// JSON that does not parse.
std::string checkpoint_fault(const fs::path& dir) {
  for (const char* name : kCheckpointFiles) {
    std::error_code ec;
    const fs::path f = dir / name;
    const auto size = fs::file_size(f, ec);
    if (ec) return cat(f.string(), " is missing");
    if (size == 0) return cat(f.string(), " is empty");
    const std::string n = name;
    try {
      if (n.ends_with(".safetensors")) {
        io::SafetensorsFile::open(f.string());
      } else {
        std::ifstream in(f);
        if (json::parse(in, nullptr, false).is_discarded()) return cat(f.string(), " is not valid JSON");
      }
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  return "";
}

at::Generator generator_for(const at::Device& device) {
  if (device.is_cpu()) return at::detail::getDefaultCPUGenerator();
  return at::globalContext().defaultGenerator(device);
}

at::Tensor generator_state(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(at::Generator gen, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace

json TrainerState::to_json() const {
  json j = {{"step", step}, {"epoch", epoch}, {"index_in_epoch", index_in_epoch}, {"tokens_seen", tokens_seen}};
  if (!stream.is_null()) j["stream"] = stream;
  return j;
}

TrainerState TrainerState::from_json(const json& j, const std::string& where) {
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.index_in_epoch = j.at("index_in_epoch").get<int64_t>();
    s.tokens_seen = j.value("tokens_seen", int64_t{0});
    if (j.contains("stream")) s.stream = j.at("stream");
  } catch (const json::exception& e) {
    fail_input(where, ": trainer state is incomplete (", e.what(), ")");
  }
  return s;
}

void save_checkpoint(const std::string& run_dir, int64_t keep, models::TextModel& model,
                     const models::AdapterConfig& adapter_cfg, const AdamW& opt, const TrainerState& state,
                     const at::Device& device) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const fs::path final_dir = root / ("step-" + std::to_string(state.step));
  const fs::path tmp = root / ("step-" + std::to_string(state.step) + ".tmp");
  remove_tree(tmp.string());
  // Every file is written into step-N.tmp, checked, fsynced and read back before the folder is renamed and DONE
  // written (fsynced too); a failed write removes the partial folder and leaves the older checkpoints as they were.
  bool renamed = false;
  try {
    fs::create_directories(tmp);
    models::save_adapter(tmp.string(), model, adapter_cfg);
    io::save_tensors((tmp / "optimizer.safetensors").string(), opt.state());
    test_signal_at(cat("checkpoint-", state.step));
    std::vector<std::pair<std::string, at::Tensor>> rng = {{"cpu", generator_state(at::detail::getDefaultCPUGenerator())}};
    if (!device.is_cpu()) rng.emplace_back(device.str(), generator_state(generator_for(device)));
    io::save_tensors((tmp / "rng.safetensors").string(), rng);
    write_synced(tmp / "trainer_state.json", state.to_json().dump(2) + "\n");
    for (const char* name : kCheckpointFiles) sync_path(tmp / name);
    if (const std::string fault = checkpoint_fault(tmp); !fault.empty())
      fail_input(fault, " right after it was written; the disk may be full");
    sync_path(tmp);
    remove_tree(final_dir.string());
    fs::rename(tmp, final_dir);
    renamed = true;
    test_signal_at(cat("checkpoint-", state.step, "-renamed"));
    sync_path(root);
    write_synced(final_dir / "DONE", cat("step ", state.step, "\n"));
    sync_path(final_dir);
  } catch (const std::exception& e) {
    try {
      remove_tree(tmp.string());
      if (renamed) remove_tree(final_dir.string());
    } catch (const std::exception&) {
      // The first error is the one to report.
    }
    const std::string why = e.what();
    fail_input("checkpoint ", final_dir.string(), " was not written: ", why,
               why.find("disk") == std::string::npos ? "; the disk may be full" : "", "; the earlier checkpoints are kept");
  }

  auto all = complete_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) remove_tree(all[i].second.string());
}

void save_final_adapter(const std::string& run_dir, models::TextModel& model, const models::AdapterConfig& adapter_cfg) {
  const fs::path root(run_dir), tmp = root / "adapter.tmp", final_dir = root / "adapter";
  remove_tree(tmp.string());
  models::save_adapter(tmp.string(), model, adapter_cfg);
  for (const auto& e : fs::directory_iterator(tmp)) sync_path(e.path());
  sync_path(tmp);
  remove_tree(final_dir.string());
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);
  if (ec) fail_input(tmp.string(), ": cannot move it to ", final_dir.string(), " (", ec.message(), ")");
  sync_path(root);
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto all = complete_checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  // Newest first; one that does not verify (a write cut short, a damaged file) is passed over for the one before.
  std::string faults;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const std::string fault = checkpoint_fault(it->second);
    if (fault.empty()) return it->second.string();
    std::cerr << "checkpoint  " << it->second.string() << " does not verify (" << fault << "); trying an earlier one\n";
    faults += cat("\n  ", it->second.string(), ": ", fault);
  }
  fail_input(run_dir, ": no checkpoint verifies, so there is nothing to resume from:", faults);
}

TrainerState load_checkpoint(const std::string& ckpt_dir, models::TextModel& model, AdamW& opt, const at::Device& device) {
  const fs::path dir(ckpt_dir);
  // The model already has LoRA applied with the run's config; the adapter file fills it.
  models::load_adapter_weights(ckpt_dir, model);
  {
    io::Checkpoint os = io::Checkpoint::open((dir / "optimizer.safetensors").string());
    std::map<std::string, at::Tensor> state;
    for (const auto& n : os.names()) state[n] = io::load_tensor(os, n).to(device);
    opt.load_state(state, (dir / "optimizer.safetensors").string());
  }
  {
    io::Checkpoint rs = io::Checkpoint::open((dir / "rng.safetensors").string());
    set_generator_state(at::detail::getDefaultCPUGenerator(), io::load_tensor(rs, "cpu").clone());
    if (!device.is_cpu() && rs.contains(device.str()))
      set_generator_state(generator_for(device), io::load_tensor(rs, device.str()).clone());
  }
  std::ifstream in(dir / "trainer_state.json");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) fail_input(ckpt_dir, ": trainer_state.json is not valid JSON");
  return TrainerState::from_json(j, (dir / "trainer_state.json").string());
}

}  // namespace gt::train
