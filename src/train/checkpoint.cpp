#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>

#include "core/error.h"
#include "core/files.h"
#include "io/safetensors_torch.h"

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
  fs::create_directories(tmp);
  models::save_adapter(tmp.string(), model, adapter_cfg);
  io::save_tensors((tmp / "optimizer.safetensors").string(), opt.state());
  std::vector<std::pair<std::string, at::Tensor>> rng = {{"cpu", generator_state(at::detail::getDefaultCPUGenerator())}};
  if (!device.is_cpu()) rng.emplace_back(device.str(), generator_state(generator_for(device)));
  io::save_tensors((tmp / "rng.safetensors").string(), rng);
  {
    std::ofstream out(tmp / "trainer_state.json");
    out << state.to_json().dump(2) << "\n";
  }
  remove_tree(final_dir.string());
  fs::rename(tmp, final_dir);
  std::ofstream(final_dir / "DONE") << "step " << state.step << "\n";

  auto all = complete_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) remove_tree(all[i].second.string());
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto all = complete_checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second.string();
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
