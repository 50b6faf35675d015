// `gemma-tune generate`: answers a prompt, or every conversation of a JSONL file, with a model and optionally a
// LoRA adapter. Prompts go through the dataset code (infer/prompts.h): a --prompt with its --image and --audio files
// becomes a one-row conversation, written to a temporary JSONL file with a placeholder answer that is cut off again.
#include <torch/torch.h>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "core/strings.h"
#include "data/file_text.h"
#include "infer/commands.h"
#include "infer/generation_settings.h"
#include "infer/generator.h"
#include "infer/prompts.h"
#include "models/peft_adapter.h"
#include "train/run_setup.h"

namespace fs = std::filesystem;

namespace gt::infer {

namespace {

constexpr const char* kPlaceholderAnswer = ".";

std::string absolute(const std::string& path) {
  if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0 || path.rfind("gs://", 0) == 0) return path;
  return fs::absolute(path).string();
}

bool has_part(const nlohmann::json& messages, std::initializer_list<const char*> types) {
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("content") || !m["content"].is_array()) continue;
    for (const auto& part : m["content"])
      if (part.is_object() && part.contains("type") && part["type"].is_string())
        for (const char* t : types)
          if (part["type"] == t) return true;
  }
  return false;
}

// The conversations to answer, each with a placeholder model turn, as JSONL text; sets the modality they need.
std::string conversations_jsonl(const GenerateOptions& o, std::string& modality) {
  std::string out;
  bool images = !o.images.empty(), audio = !o.audio.empty();
  if (!o.messages.empty()) {
    const std::string text = data::read_whole_file(o.messages);
    int64_t line_no = 0;
    for (const std::string& line : split(text, '\n')) {
      ++line_no;
      if (trim(line).empty()) {
        out += "\n";  // kept, so the temporary file's line numbers are the file's
        continue;
      }
      nlohmann::json row;
      try {
        row = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        fail_input(o.messages, ":", line_no, ": not valid JSON (", e.what(), ")");
      }
      if (row.is_object() && !row.contains("messages") && row.contains("prompt") && row["prompt"].is_string())
        row = {{"messages", nlohmann::json::array({{{"role", "user"}, {"content", row["prompt"]}}})}};
      if (!row.is_object() || !row.contains("messages") || !row["messages"].is_array() || row["messages"].empty())
        fail_input(o.messages, ":", line_no, ": expected {\"messages\": [{\"role\": ..., \"content\": ...}, ...]} or "
                                             "{\"prompt\": \"...\"}");
      const nlohmann::json& last = row["messages"].back();
      if (!last.is_object() || last.value("role", "") != "user")
        fail_input(o.messages, ":", line_no, ": the last message must be the user's (generate writes the answer)");
      images |= has_part(row["messages"], {"image", "image_url"});
      audio |= has_part(row["messages"], {"audio"});
      row["messages"].push_back({{"role", "model"}, {"content", kPlaceholderAnswer}});
      out += row.dump() + "\n";
    }
    if (trim(out).empty()) fail_input(o.messages, ": no conversation in the file");
  } else {
    nlohmann::json content = nlohmann::json::array();
    // The reference tool's order for image + audio rows: image, clip, then the text.
    for (const std::string& f : o.images) content.push_back({{"type", "image"}, {"path", absolute(f)}});
    for (const std::string& f : o.audio) content.push_back({{"type", "audio"}, {"path", absolute(f)}});
    content.push_back({{"type", "text"}, {"text", o.prompt}});
    nlohmann::json messages = nlohmann::json::array();
    if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
    messages.push_back({{"role", "user"}, {"content", content}});
    messages.push_back({{"role", "model"}, {"content", kPlaceholderAnswer}});
    out = nlohmann::json{{"messages", messages}}.dump() + "\n";
  }
  modality = images && audio ? "audiovisual" : images ? "image" : audio ? "audio" : "text";
  return out;
}

// Prints a row's text as tokens arrive: only what decodes to complete UTF-8 (a character split over byte tokens
// waits for its last byte).
class TextStream {
 public:
  explicit TextStream(const tok::Tokenizer& t) : tok_(t) {}
  void add(int64_t id) {
    ids_.push_back(id);
    const std::string text = answer_text(tok_, ids_);
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;  // maybe incomplete
    if (text.size() > printed_) std::cout << text.substr(printed_) << std::flush;
    printed_ = text.size();
  }
  void finish() {
    const std::string text = answer_text(tok_, ids_);
    if (text.size() > printed_) std::cout << text.substr(printed_);
    std::cout << "\n" << std::flush;
  }

 private:
  const tok::Tokenizer& tok_;
  std::vector<int64_t> ids_;
  size_t printed_ = 0;
};

}  // namespace

void run_generate(const GenerateOptions& o) {
  if (o.model.empty()) fail_input("generate: --model DIR is required");
  if (o.prompt.empty() == o.messages.empty()) fail_input("generate: give exactly one of --prompt TEXT and --messages FILE");
  if (!o.messages.empty() && (!o.images.empty() || !o.audio.empty() || !o.system.empty()))
    fail_input("generate: --image, --audio and --system go with --prompt; a --messages file brings its own");
  if (o.raw && (!o.images.empty() || !o.audio.empty() || !o.system.empty() || !o.messages.empty()))
    fail_input("generate: --raw takes a --prompt only (no chat format, so no system message, images or audio)");
  if (o.batch_size < 1) fail_input("--batch-size is ", o.batch_size, ", expected at least 1");

  TrainConfig cfg;
  cfg.model = o.model;
  cfg.device = o.device;
  cfg.dtype = o.dtype;
  cfg.max_duration = o.max_duration;
  cfg.max_seq_len = 1 << 20;  // prompts are never cut
  if (o.image_token_budget) {
    cfg.image_token_budget = *o.image_token_budget;
  } else if (!o.adapter.empty()) {
    const models::AdapterConfig trained = models::read_adapter_config(o.adapter);
    if (trained.image_token_budget > 0) cfg.image_token_budget = trained.image_token_budget;
  }
  std::string jsonl;
  if (!o.raw) jsonl = conversations_jsonl(o, cfg.modality);
  train::RunSetup setup(cfg);

  std::vector<PromptRow> rows;
  if (o.raw) {
    PromptRow r;
    r.ids.push_back(setup.tokenizer.require_id("<bos>"));
    for (int32_t id : setup.tokenizer.encode(o.prompt)) r.ids.push_back(id);
    r.source = "--prompt";
    rows.push_back(std::move(r));
  } else {
    // The dataset code reads files: the conversations go through a temporary one (relative media paths of a
    // --messages file resolve against that file's folder).
    const fs::path tmp_dir = fs::temp_directory_path() / cat("gemma-tune-generate-", ::getpid());
    fs::create_directories(tmp_dir);
    const fs::path tmp = tmp_dir / (o.messages.empty() ? std::string("prompt.jsonl") : fs::path(o.messages).filename().string());
    std::ofstream(tmp) << jsonl;
    setup.dataset_options.base_dir =
        o.messages.empty() ? fs::current_path().string() : fs::absolute(o.messages).parent_path().string();
    setup.dataset_options.skipped_log.clear();
    const std::string where = o.messages.empty() ? std::string("--prompt") : o.messages;
    data::TextDataset ds;
    try {
      ds = setup.load_dataset(tmp.string());
    } catch (const InputError& e) {
      remove_tree(tmp_dir.string());
      // The message names the temporary file; the user knows the prompt or their file.
      std::string msg = e.what();
      for (size_t at; (at = msg.find(tmp.string())) != std::string::npos;) msg.replace(at, tmp.string().size(), where);
      fail_input(msg);
    } catch (...) {
      remove_tree(tmp_dir.string());
      throw;
    }
    remove_tree(tmp_dir.string());
    for (const data::SkippedRow& s : ds.skipped)
      std::cerr << "skipped " << where << ":" << s.row << ": " << s.reason << "\n";
    for (data::Example& e : ds.examples) {
      PromptRow r = prompt_from_example(e, setup.tokenizer);
      const std::string row = e.source.substr(e.source.rfind(':') + 1);
      r.source = o.messages.empty() ? where : o.messages + ":" + row;
      rows.push_back(std::move(r));
    }
  }

  models::LoadedModel lm = setup.load_model();
  if (!o.adapter.empty()) {
    const size_t n = models::load_adapter(o.adapter, lm.model->text());
    if (!o.json) std::cerr << "adapter  " << o.adapter << " (" << n << " LoRA layers)\n";
  }
  GenerationSettings settings = read_generation_settings(o.model, setup.model_config, setup.tokenizer);
  GenerationOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.sampling = settings.sampling;
  if (o.temperature) g.sampling.temperature = *o.temperature;
  if (o.top_k) g.sampling.top_k = *o.top_k;
  if (o.top_p) g.sampling.top_p = *o.top_p;
  if (o.repetition_penalty) g.sampling.repetition_penalty = *o.repetition_penalty;
  g.seed = static_cast<uint64_t>(o.seed);
  g.stop_ids = settings.stop_ids;
  g.pad_id = setup.pad_id;
  check_sampling_options(g.sampling);
  if (!o.json)
    std::cerr << "sampling " << (g.sampling.greedy() ? std::string("greedy")
                                                      : cat("temperature ", g.sampling.temperature, ", top-k ",
                                                            g.sampling.top_k, ", top-p ", g.sampling.top_p, ", seed ", o.seed))
              << (g.sampling.repetition_penalty != 1.0 ? cat(", repetition penalty ", g.sampling.repetition_penalty) : "")
              << (settings.from_file && !o.temperature ? " (generation_config.json)" : "") << "\n";

  const train::MediaReaders readers = setup.media_readers();
  auto report = [&](const PromptRow& r, const Generation& gen, const GenerationTimes& t) {
    const double per_s = t.decode_s > 0 ? static_cast<double>(t.new_tokens - 1) / t.decode_s : 0.0;
    if (o.json) {
      nlohmann::json j{{"ids", gen.ids},
                       {"text", answer_text(setup.tokenizer, gen.ids)},
                       {"prompt_tokens", gen.prompt_tokens},
                       {"stopped", gen.stopped},
                       {"prefill_s", t.prefill_s},
                       {"tokens_per_s", per_s}};
      if (!o.messages.empty()) j["source"] = r.source;
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
    } else {
      std::cerr << "[" << gen.prompt_tokens << " prompt tokens, " << gen.ids.size() << " generated"
                << (gen.stopped ? "" : " (max-new-tokens reached)") << ", prefill " << t.prefill_s << " s, "
                << per_s << " tokens/s]\n";
    }
  };
  if (o.batch_size == 1 || rows.size() == 1) {
    // One row at a time: text streams to standard output as it is generated.
    for (const PromptRow& r : rows) {
      if (!o.json && rows.size() > 1) std::cout << "### " << r.source << "\n";
      TextStream stream(setup.tokenizer);
      GenerationTimes t;
      std::vector<Generation> gen =
          generate(*lm.model, left_pad({r.ids}, g.pad_id), prompt_media({&r}, readers), g,
                   o.json ? TokenCallback{} : TokenCallback([&](int64_t, int64_t id) { stream.add(id); }), &t);
      if (!o.json) stream.finish();
      report(r, gen[0], t);
    }
  } else {
    GenerationTimes t;
    std::vector<Generation> gen = generate_rows(*lm.model, rows, readers, g, o.batch_size, "generate", &t);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!o.json) {
        std::cout << "### " << rows[i].source << "\n" << answer_text(setup.tokenizer, gen[i].ids) << "\n";
      }
      report(rows[i], gen[i], t);
    }
  }
}

}  // namespace gt::infer
