// `gemma-tune doctor`: what this machine and this build can do. Prints the libtorch version and devices, memory
// and disk, library versions, and for each modality what is missing; with --model, checks a model folder
// (config, tokenizer, weights) the way `train` will read it.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_check.h"  // defines: check_model_folder
#include "core/device.h"      // defines: torch_info
#include "train/launcher.h"   // defines: data_parallel_backends
#include "core/error.h"
#include "core/strings.h"
#include "core/system_info.h"  // defines: system_info, disk_free_bytes
#include "media/audio_decode.h"  // defines: ffmpeg_version
#include "media/image_decode.h"  // defines: image_decoding_available, image_decoder_version

namespace gt::cli {

namespace {

struct Requirement {
  std::string what;
  bool ok;
  std::string hint;  // how to get it when missing
};

struct Modality {
  std::string name;
  std::vector<Requirement> needs;
};

std::vector<Modality> modalities() {
#if defined(GT_HAVE_FFMPEG)
  const bool ffmpeg = true;
#else
  const bool ffmpeg = false;
#endif
  const bool opencv = media::image_decoding_available();
  const Requirement text_model{"text decoders (Gemma 3n, Gemma 4)", true, ""};
  const Requirement audio_decoding{"FFmpeg audio decoding", ffmpeg,
                                   "install libavformat-dev libavcodec-dev libswresample-dev libavutil-dev and rebuild"};
  const Requirement image_decoding{"OpenCV image decoding", opencv, "install libopencv-imgcodecs-dev and rebuild"};
  return {
      {"text", {text_model}},
      {"audio", {text_model, audio_decoding}},
      {"image", {text_model, image_decoding}},
      {"audiovisual", {text_model, audio_decoding, image_decoding}},
  };
}

nlohmann::json report(const std::string& model_dir) {
  nlohmann::json j;
  j["gemma_tune"] = GT_VERSION;
  const SystemInfo s = system_info();
  j["system"] = {{"os", s.os},
                 {"cpu_cores", s.cpu_cores},
                 {"memory_total_bytes", s.memory_total},
                 {"memory_available_bytes", s.memory_available},
                 {"disk_free_bytes", disk_free_bytes(".")}};
  const TorchInfo t = torch_info();
  nlohmann::json acc = nlohmann::json::array();
  for (const AcceleratorInfo& a : t.accelerators)
    acc.push_back({{"device", a.device}, {"name", a.name}, {"memory_bytes", a.memory_bytes}});
  j["libtorch"] = {{"version", t.version},
                   {"cuda", t.built_with_cuda},
                   {"mps", t.built_with_mps},
                   {"cpu_threads", t.cpu_threads},
                   {"accelerators", acc},
                   {"default_device", resolve_device("auto")}};
  j["dependencies"] = {{"CLI11", CLI11_VERSION},
                       {"nlohmann-json", cat(NLOHMANN_JSON_VERSION_MAJOR, ".", NLOHMANN_JSON_VERSION_MINOR, ".",
                                             NLOHMANN_JSON_VERSION_PATCH)},
                       {"yaml-cpp", GT_YAML_CPP_VERSION}};
#if defined(GT_HAVE_FFMPEG)
  j["ffmpeg"] = media::ffmpeg_version();  // own line: the audio path depends on which codecs this build has
#endif
  if (media::image_decoding_available()) j["image_decoder"] = media::image_decoder_version();
  j["data_parallel"] = train::data_parallel_backends();  // "" without c10d
  nlohmann::json mods = nlohmann::json::object();
  for (const Modality& m : modalities()) {
    nlohmann::json missing = nlohmann::json::array();
    for (const Requirement& r : m.needs)
      if (!r.ok) missing.push_back({{"what", r.what}, {"hint", r.hint}});
    mods[m.name] = {{"ready", missing.empty()}, {"missing", missing}};
  }
  j["modalities"] = mods;
  if (!model_dir.empty()) j["model"] = check_model_folder(model_dir);
  return j;
}

void print_human(const nlohmann::json& j) {
  const auto& s = j["system"];
  std::cout << "gemma-tune " << j["gemma_tune"].get<std::string>() << "\n";
  std::cout << "system      " << s["os"].get<std::string>() << ", " << s["cpu_cores"] << " cores, memory "
            << format_bytes(s["memory_total_bytes"].get<double>()) << " ("
            << format_bytes(s["memory_available_bytes"].get<double>()) << " available), disk free "
            << format_bytes(s["disk_free_bytes"].get<double>()) << "\n";
  const auto& t = j["libtorch"];
  std::cout << "libtorch    " << t["version"].get<std::string>() << " (CUDA " << (t["cuda"].get<bool>() ? "yes" : "no")
            << ", MPS " << (t["mps"].get<bool>() ? "yes" : "no") << "), " << t["cpu_threads"] << " CPU threads\n";
  std::cout << "devices     cpu";
  for (const auto& a : t["accelerators"]) {
    std::cout << "; " << a["device"].get<std::string>() << " " << a["name"].get<std::string>();
    if (a["memory_bytes"].get<uint64_t>() > 0) std::cout << " (" << format_bytes(a["memory_bytes"].get<double>()) << ")";
  }
  std::cout << "  [--device auto = " << t["default_device"].get<std::string>() << "]\n";
  std::cout << "libraries  ";
  for (const auto& [k, v] : j["dependencies"].items()) std::cout << " " << k << " " << v.get<std::string>();
  std::cout << "\n";
  if (j.contains("ffmpeg")) std::cout << "ffmpeg      " << j["ffmpeg"].get<std::string>() << "\n";
  if (j.contains("image_decoder")) std::cout << "images      " << j["image_decoder"].get<std::string>() << "\n";
  const std::string dp = j.value("data_parallel", "");
  std::cout << "processes   " << (dp.empty() ? "one (built without a c10d backend: Gloo or NCCL headers)"
                                             : cat("train --nproc N with ", dp)) << "\n";
  std::cout << "modalities\n";
  for (const auto& [name, m] : j["modalities"].items()) {
    std::cout << "  " << name << std::string(12 - std::min<size_t>(name.size(), 11), ' ');
    if (m["ready"].get<bool>()) {
      std::cout << "ready\n";
      continue;
    }
    std::cout << "missing:";
    bool first = true;
    for (const auto& r : m["missing"]) {
      std::cout << (first ? " " : "; ") << r["what"].get<std::string>() << " (" << r["hint"].get<std::string>() << ")";
      first = false;
    }
    std::cout << "\n";
  }
  if (j.contains("model")) print_model_check(j["model"], std::cout);
}

}  // namespace

void add_doctor(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand(
      "doctor", "Show libtorch, devices, memory, library versions and what each modality still needs; "
                "with --model, check a model folder.");
  sub->add_option("--model", *model, "Also check this model folder (config.json, tokenizer.json, safetensors)");
  sub->add_flag("--json", *as_json, "Print one JSON object instead of text");
  sub->callback([model, as_json] {
    nlohmann::json j = report(*model);
    if (*as_json)
      std::cout << j.dump(2) << "\n";
    else
      print_human(j);
    if (j.contains("model") && !j["model"]["ok"].get<bool>())
      fail_input("doctor: the model folder ", *model, " has problems (listed above)");
  });
}

}  // namespace gt::cli
