// `gemma-tune wizard`: a guided set-up. It asks for the task, the model folder (checked as `doctor --model` checks
// it), the dataset (its first rows shown as `train` reads them, with the trained part marked, and the rows `train`
// would skip, counted by reason), the key settings with their defaults explained, shows a rough estimate of memory
// and time on this machine, asks for a run name, then writes a YAML run config (to_yaml of the TrainConfig, which
// `train --config FILE` reads back exactly) and runs `train` on it in this process, or prints that command.
//
// Plain line input: questions and notes go to standard error, answers come from standard input one line each, and
// standard output carries only the final command, so a script can drive it (--config-out FILE, --no-start).
// Nothing is written before the last question is answered: the input ending early writes nothing.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_check.h"     // defines: check_model_folder, print_model_check
#include "cli/wizard_prompts.h"  // defines: Prompter
#include "core/device.h"         // defines: resolve_device (the detection `doctor` shows)
#include "core/error.h"
#include "core/strings.h"
#include "core/train_config.h"
#include "io/object_reader.h"     // defines: is_remote_url
#include "media/image_decode.h"   // defines: image_decoding_available
#include "train/commands.h"       // defines: run_train
#include "train/dataset_preview.h"  // defines: preview_dataset
#include "train/run_estimate.h"     // defines: estimate_run, describe_estimate

namespace fs = std::filesystem;

namespace gt::cli {

namespace {

// The rows of the dataset shown before training.
constexpr size_t kPreviewRows = 3;

// What the person wants the model to learn, and what that means for the run.
struct Task {
  std::string label;
  std::string rows;  // what a row holds
  std::string modality, mode;
  std::string short_name;            // for the default run name
  std::vector<std::string> columns;  // option keys of the columns rows need
  bool audio = false, vision = false;  // towers and decoders it needs
};

const std::vector<Task>& tasks() {
  static const std::vector<Task> t = {
      {"text instruction", "prompt -> response, or chat messages", "text", "instruction", "instruction",
       {"prompt_column", "response_column"}},
      {"text completion", "plain text, every token trained", "text", "completion", "completion", {"text_column"}},
      {"image caption", "an image -> its caption", "image", "caption", "caption", {"image_column", "caption_column"},
       false, true},
      {"image VQA", "an image and a question -> the answer", "image", "vqa", "vqa",
       {"image_column", "question_column", "answer_column"}, false, true},
      {"speech recognition", "an audio clip -> its transcript", "audio", "instruction", "asr",
       {"audio_column", "text_column"}, true, false},
      {"audiovisual", "an image and an audio clip -> a caption", "audiovisual", "caption", "audiovisual",
       {"audio_column", "image_column", "caption_column"}, true, true},
  };
  return t;
}

bool has_option(const std::string& key) {
  for (const ConfigField& f : train_config_fields())
    if (f.key == key) return true;
  return false;
}

const ConfigField& field(const std::string& key) {
  for (const ConfigField& f : train_config_fields())
    if (f.key == key) return f;
  throw std::logic_error("wizard: no option " + key);
}

std::string value_of(const TrainConfig& cfg, const std::string& key) { return config_value_text(cfg, field(key)); }

// A path as one shell word.
std::string shell_word(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+=:,@") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string indent(const std::string& text, const std::string& pad) {
  std::string out = pad;
  for (size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (text[i] == '\n' && i + 1 < text.size()) out += pad;
  }
  return out;
}

class Wizard {
 public:
  Wizard(Prompter& p, bool color) : p_(p), os_(p.out()), color_(color) {}

  const Task& ask_task() {
    os_ << "gemma-tune wizard: a few questions, then a run config and a training run. Press Enter to take the "
           "default in [brackets].\n\nWhat should the model learn?\n";
    for (size_t i = 0; i < tasks().size(); ++i)
      os_ << "  " << i + 1 << ") " << tasks()[i].label << ": " << tasks()[i].rows << "\n";
    const std::string a = p_.ask("task (1-" + std::to_string(tasks().size()) + ")", "1", [](const std::string& a) {
      if (a.size() != 1 || a[0] < '1' || a[0] > static_cast<char>('0' + tasks().size()))
        fail_input("\"", a, "\" is not one of 1-", tasks().size());
      const Task& t = tasks()[a[0] - '1'];
#if !defined(GT_HAVE_FFMPEG)
      if (t.audio)
        fail_input(t.label, " needs audio decoding, and this build has no FFmpeg (`gemma-tune doctor` says how to "
                   "get it)");
#endif
      if (t.vision && !media::image_decoding_available())
        fail_input(t.label, " needs image decoding, and this build has no OpenCV (`gemma-tune doctor` says how to "
                   "get it)");
    });
    const Task& t = tasks()[a[0] - '1'];
    cfg_.modality = t.modality;
    cfg_.mode = t.mode;
    return t;
  }

  void ask_columns(const Task& t) {
    os_ << "\nRows are read from these columns (CSV header names, or JSONL keys); press Enter to keep a name.\n";
    if (t.mode == "instruction") os_ << "(JSONL rows with \"messages\": [{\"role\", \"content\"}, ...] need none.)\n";
    for (const std::string& key : t.columns) {
      os_ << "  " << field(key).help << "\n";
      apply_text(cfg_, key, p_.ask(key, value_of(cfg_, key)));
    }
  }

  void ask_model(const Task& t) {
    os_ << "\nModel folder: a Hugging Face Gemma 3n or Gemma 4 download (config.json, tokenizer.json, "
           "*.safetensors)";
    if (t.audio || t.vision)
      os_ << "; " << t.label << " needs a multimodal one with the " << (t.audio && t.vision ? "audio and vision towers"
                                                                         : t.audio        ? "audio tower"
                                                                                          : "vision tower");
    os_ << ".\n";
    p_.ask("model folder", "", [&](const std::string& dir) {
      const nlohmann::json r = check_model_folder(dir);
      print_model_check(r, os_);
      if (!r["ok"].get<bool>()) fail_input(dir, " has the problems listed above");
      for (const auto& [needed, tower] : {std::pair{t.audio, "audio"}, std::pair{t.vision, "vision"}}) {
        bool has = false;
        for (const auto& x : r["towers"]) has |= x.get<std::string>() == tower;
        if (needed && !has) fail_input(dir, " has no ", tower, " tower, which ", t.label, " needs");
      }
      cfg_.model = dir;
    });
  }

  void ask_dataset() {
    os_ << "\nDataset: a folder with train.jsonl or train.csv (and validation.*), or one .jsonl/.csv file; or shards "
           "to stream (gs://bucket/path, https://..., bq://project.dataset.table).\n";
    p_.ask("dataset", "", [&](const std::string& data) {
      TrainConfig trial = cfg_;
      trial.data = data;
      if (io::is_remote_url(data)) {
        preview_.reset();
      } else {
        if (!fs::exists(data)) fail_input(data, ": no such file or folder");
        preview_ = train::preview_dataset(trial, kPreviewRows, marks());
      }
      cfg_ = trial;
    });
    if (!preview_) {
      os_ << "note        " << cfg_.data << " is not read now: `train` streams it as it trains and records skipped "
          << "rows in the run's skipped.jsonl; a streamed run needs a number of steps (max_steps).\n";
      return;
    }
    show_summary();
    os_ << "first rows, as `train` reads them; the trained part "
        << (color_ ? "in bold green" : "between " + data::TrainedMarks{}.open + " and " + data::TrainedMarks{}.close)
        << ":\n";
    for (const train::PreviewRow& r : preview_->rows) os_ << "  " << r.source << "\n" << indent(r.text, "    ") << "\n";
  }

  void ask_settings() {
    const bool streamed = !preview_;
    bool reread = false;  // the dataset was read again for another max_seq_len
    os_ << "\nKey settings (the others keep their defaults; `gemma-tune train --help` lists them all):\n";
    ask_setting("max_steps", streamed ? "" : value_of(cfg_, "max_steps"),
                streamed ? "a streamed dataset must give it (its size is not known before it is read)"
                         : "0: run whole epochs",
                [&](const TrainConfig& c) {
                  if (streamed && c.max_steps <= 0)
                    fail_input("a streamed dataset's size is not known before it is read; give a number of steps");
                });
    if (cfg_.max_steps == 0) ask_setting("epochs", value_of(cfg_, "epochs"), "");
    ask_setting("lr", value_of(cfg_, "lr"), "");
    ask_setting("lora_r", value_of(cfg_, "lora_r"), "");
    ask_setting("batch_size", value_of(cfg_, "batch_size"), "");
    ask_setting("max_seq_len", value_of(cfg_, "max_seq_len"),
                preview_ ? cat("the longest example now has ", preview_->train.longest, " tokens") : "",
                [&](const TrainConfig& c) {
                  // Truncation and too_long skips depend on it: read the data again as `train` will.
                  if (preview_ && c.max_seq_len != cfg_.max_seq_len) {
                    preview_ = train::preview_dataset(c, kPreviewRows, marks());
                    reread = true;
                  }
                });
    ask_setting("gradient_checkpointing", value_of(cfg_, "gradient_checkpointing"), "yes or no");
    ask_setting("quantize", value_of(cfg_, "quantize"), "");
    std::string here;
    try {
      here = resolve_device("auto");
    } catch (const InputError&) {
    }
    ask_setting("device", value_of(cfg_, "device"), here.empty() ? "" : "auto is " + here + " on this machine",
                [](const TrainConfig& c) { resolve_device(c.device); });
    if (has_option("live")) ask_live();  // the live page's option (train --live), where this build has it
    if (reread) show_summary();
  }

  void show_estimate() {
    os_ << "\nEstimate for this machine (rough):\n";
    try {
      train::DatasetTokens d;
      if (preview_) d = {preview_->train.total_tokens, preview_->train.examples, preview_->train.longest};
      for (const std::string& line : train::describe_estimate(train::estimate_run(cfg_, d), cfg_))
        os_ << "  " << line << "\n";
    } catch (const InputError& e) {
      os_ << "  not available: " << e.what() << "\n";
    }
  }

  void ask_run_name(const Task& t) {
    os_ << "\nRuns are written to <runs folder>/<date>-<time>-<run name>/.\n";
    cfg_.out = p_.ask("runs folder", cfg_.out);
    fs::path model = fs::path(cfg_.model).lexically_normal();
    if (model.filename().empty()) model = model.parent_path();  // "models/gemma/" names "gemma"
    const std::string model_name = model.filename().string();
    const std::string def = (model_name.empty() || model_name == "." ? "gemma" : model_name) + "-" + t.short_name;
    cfg_.name = p_.ask("run name", def, [](const std::string& n) {
      if (n.find_first_of("/\\ \t") != std::string::npos) fail_input("\"", n, "\": a run name has no slashes or spaces");
    });
  }

  // The file to write, asked (or given by --config-out) and, when it exists, only with a yes.
  std::string ask_config_path(const std::string& given) {
    for (int attempt = 0; attempt < Prompter::kMaxTries; ++attempt) {
      const std::string path = !given.empty() ? given : p_.ask("run config file", "./" + cfg_.name + ".yaml");
      if (!fs::exists(path)) return path;
      if (fs::is_directory(path)) {
        if (!given.empty()) fail_input("--config-out ", path, " is a folder, not a file");
        os_ << "  not accepted: " << path << " is a folder\n";
        continue;
      }
      if (p_.ask_yes_no(path + " exists; overwrite it?", false)) return path;
      if (!given.empty()) fail_input(path, " exists and was not overwritten (--config-out)");
    }
    fail_input("wizard: no run config file to write after ", Prompter::kMaxTries, " tries");
  }

  // Writes the run config and checks that it reads back as the same configuration.
  void write_config(const std::string& path, const Task& t) const {
    validate(cfg_);
    const fs::path p(path);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    const std::string tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary);
      f << "# gemma-tune run config written by `gemma-tune wizard` (" << t.label << ").\n"
        << "# Train with: gemma-tune train --config " << shell_word(path) << "\n"
        << to_yaml(cfg_);
      if (!f) fail_input(tmp, ": cannot write the run config");
    }
    fs::rename(tmp, path);
    TrainConfig back;
    apply_yaml(back, path);
    GT_CHECK(to_yaml(back) == to_yaml(cfg_), "the run config ", path, " does not read back as written");
    os_ << "\nwrote " << path << "\n";
  }

  const TrainConfig& config() const { return cfg_; }

 private:
  data::TrainedMarks marks() const { return color_ ? data::ansi_trained_marks() : data::TrainedMarks{}; }

  void show_summary() {
    os_ << "train       " << preview_->train.describe() << "\n";
    if (!preview_->validation.file.empty()) os_ << "validation  " << preview_->validation.describe() << "\n";
    if (preview_->train.skipped > 0) {
      os_ << "skipped     " << preview_->train.skipped << " of " << preview_->train.rows_read
          << " rows would be left out of training, by reason:";
      for (const auto& [kind, n] : preview_->train.skipped_by_kind) os_ << " " << kind << " " << n;
      os_ << "\n";
      for (const data::SkippedRow& r : preview_->first_skipped)
        os_ << "  " << fs::path(r.file).filename().string() << " row " << r.row << ": " << r.reason << "\n";
    }
  }

  // The live page of `train --live` (a browser page of the run as it trains): yes = the default port or the next
  // free one ("auto"), no = off (""), or a port.
  void ask_live() {
    os_ << "  " << field("live").help << "\n";
    p_.ask("live page (y, n or a port)", "n", [&](const std::string& a) {
      std::string v = a;
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
      if (v == "y" || v == "yes")
        v = "auto";
      else if (v == "n" || v == "no")
        v.clear();
      else if (v.find_first_not_of("0123456789") != std::string::npos)
        fail_input("\"", a, "\" is not y, n or a port number");
      TrainConfig trial = cfg_;
      apply_text(trial, "live", v);
      validate(trial);
      cfg_ = trial;
    });
  }

  // One setting: its help line from the option table, a note, and the question; `check` sees the value applied.
  void ask_setting(const std::string& key, const std::string& def, const std::string& note,
                   const std::function<void(const TrainConfig&)>& check = {}) {
    os_ << "  " << field(key).help << (note.empty() ? "" : " (" + note + ")") << "\n";
    p_.ask(key, def, [&](const std::string& a) {
      TrainConfig trial = cfg_;
      apply_text(trial, key, a);
      validate(trial);
      if (check) check(trial);
      cfg_ = trial;
    });
  }

  Prompter& p_;
  std::ostream& os_;
  bool color_;
  TrainConfig cfg_;
  std::optional<train::DatasetPreview> preview_;  // empty for a streamed dataset
};

void run_wizard(const std::string& config_out, bool no_start) {
  const bool color = ::isatty(STDERR_FILENO) && !std::getenv("NO_COLOR");
  Prompter p(std::cin, std::cerr, /*echo=*/!::isatty(STDIN_FILENO));
  Wizard w(p, color);
  const Task& task = w.ask_task();
  w.ask_columns(task);
  w.ask_model(task);
  w.ask_dataset();
  w.ask_settings();
  w.show_estimate();
  w.ask_run_name(task);
  const std::string path = w.ask_config_path(config_out);
  const bool start = !no_start && p.ask_yes_no("start training now?", true);
  w.write_config(path, task);
  const std::string command = "gemma-tune train --config " + shell_word(path);
  if (!start) {
    std::cerr << "start it with:\n";
    std::cout << command << std::endl;
    return;
  }
  std::cerr << "starting    " << command << "\n\n";
  TrainConfig cfg;
  apply_yaml(cfg, path);  // exactly what `train --config FILE` runs
  const int code = train::run_train(cfg);
  if (code != 0) throw CLI::RuntimeError(code);
}

}  // namespace

void add_wizard(CLI::App& app) {
  auto config_out = std::make_shared<std::string>();
  auto no_start = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand(
      "wizard",
      "Guided set-up: asks for the task, model, dataset (shows its first rows with the trained part marked and the "
      "rows that would be skipped) and key settings, estimates memory and time on this machine, writes a YAML run "
      "config and starts `train --config FILE` (or prints that command). Questions on standard error, answers one "
      "line each on standard input (Enter takes the default), the final command on standard output.");
  sub->add_option("--config-out", *config_out, "Write the run config here (asked otherwise; an existing file only "
                                               "after a yes)");
  sub->add_flag("--no-start", *no_start, "Write the run config and print the train command; do not start it");
  sub->callback([config_out, no_start] { run_wizard(*config_out, *no_start); });
}

}  // namespace gt::cli
