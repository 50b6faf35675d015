#include "infer/task_eval.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "core/error.h"
#include "core/strings.h"
#include "data/csv_writer.h"
#include "data/dataset_files.h"
#include "data/text_metrics.h"
#include "data/text_normalizer.h"
#include "infer/generation_settings.h"
#include "infer/prompts.h"
#include "models/peft_adapter.h"
#include "train/batches_torch.h"
#include "train/run_setup.h"

namespace fs = std::filesystem;

namespace gt::infer {

namespace {

// One model's answers to every row, with their scores.
struct Side {
  std::string name;  // "base" or "adapter"
  std::vector<Generation> answers;
  std::vector<std::string> texts;
  std::vector<data::EditCounts> words, chars;
  std::vector<double> chrf;
  std::vector<bool> exact;
  data::EditCounts total_words, total_chars;
  data::ChrfAccumulator corpus_chrf;
  int64_t exact_count = 0;
  train::EvalResult loss;
  GenerationTimes times;
};

std::string format(double v, int digits = 4) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

void score(Side& side, const std::vector<PromptRow>& rows, const tok::Tokenizer& tokenizer,
           data::TextNormalizer normalizer) {
  for (size_t i = 0; i < rows.size(); ++i) {
    side.texts.push_back(trim(answer_text(tokenizer, side.answers[i].ids)));
    const std::string ref = data::normalize_text(rows[i].reference, normalizer);
    const std::string hyp = data::normalize_text(side.texts.back(), normalizer);
    side.words.push_back(data::word_errors(ref, hyp));
    side.chars.push_back(data::char_errors(ref, hyp));
    side.chrf.push_back(data::chrf(ref, hyp));
    side.exact.push_back(data::exact_match(ref, hyp));
    side.total_words += side.words.back();
    side.total_chars += side.chars.back();
    side.corpus_chrf.add(ref, hyp);
    side.exact_count += side.exact.back() ? 1 : 0;
  }
}

nlohmann::json side_metrics(const Side& s, size_t rows) {
  int64_t tokens = 0, cut = 0;
  for (const Generation& g : s.answers) {
    tokens += static_cast<int64_t>(g.ids.size());
    cut += g.stopped ? 0 : 1;
  }
  return {{"wer", s.total_words.rate()},
          {"cer", s.total_chars.rate()},
          {"chrf", s.corpus_chrf.score()},
          {"exact_match", rows ? static_cast<double>(s.exact_count) / static_cast<double>(rows) : 0.0},
          {"word_errors", {{"substitutions", s.total_words.substitutions},
                           {"deletions", s.total_words.deletions},
                           {"insertions", s.total_words.insertions},
                           {"reference_words", s.total_words.reference_length}}},
          {"loss", s.loss.loss},
          {"perplexity", std::exp(s.loss.loss)},
          {"loss_tokens", s.loss.tokens},
          {"generated_tokens", tokens},
          {"cut_by_max_new_tokens", cut},
          {"prefill_s", s.times.prefill_s},
          {"decode_s", s.times.decode_s}};
}

std::string default_out_dir() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "eval-%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

void run_task_eval(const TrainConfig& run, const TaskEvalOptions& o) {
  TrainConfig cfg = run;
  if (cfg.model.empty() || cfg.data.empty()) fail_input("eval: --model and --data are required");
  const auto normalizer = data::text_normalizer_from_name(o.normalizer);
  if (!normalizer) fail_input("--normalizer is \"", o.normalizer, "\", expected basic or none");
  if (o.compare_adapter && o.adapter.empty()) fail_input("eval: --compare-adapter needs --adapter DIR");
  if (cfg.mode == "completion")
    fail_input("eval --generate answers conversations; --mode completion rows have no answer to compare with");
  if (!o.adapter.empty() && !o.image_token_budget_given) {
    const models::AdapterConfig trained = models::read_adapter_config(o.adapter);
    if (trained.image_token_budget > 0) cfg.image_token_budget = trained.image_token_budget;
  }
  const std::string out_dir = o.out.empty() ? default_out_dir() : o.out;
  if (fs::exists(out_dir) && !fs::is_empty(out_dir))
    fail_input(out_dir, " exists and is not empty; choose another --out folder");

  train::RunSetup setup(cfg);
  const std::string file = data::evaluation_file(cfg.data);
  data::TextDataset ds = setup.load_dataset(file);
  if (o.max_rows > 0 && static_cast<int64_t>(ds.examples.size()) > o.max_rows) ds.examples.resize(o.max_rows);
  if (!o.json) std::cerr << "data     " << ds.summary.describe() << "\n";
  std::vector<PromptRow> rows;
  for (const data::Example& e : ds.examples) rows.push_back(prompt_from_example(e, setup.tokenizer));

  models::LoadedModel lm = setup.load_model();
  const GenerationSettings settings = read_generation_settings(cfg.model, setup.model_config, setup.tokenizer);
  GenerationOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.stop_ids = settings.stop_ids;
  g.pad_id = setup.pad_id;  // greedy: the metrics of a run must not depend on a draw
  const train::MediaReaders readers = setup.media_readers();

  std::vector<Side> sides;
  auto run_side = [&](const std::string& name) {
    Side s;
    s.name = name;
    s.answers = generate_rows(*lm.model, rows, readers, g, cfg.batch_size, "generate (" + name + ")", &s.times);
    s.loss = train::evaluate(*lm.model, ds.examples, cfg.batch_size, setup.pad_id, setup.device, "loss (" + name + ")",
                             readers);
    score(s, rows, setup.tokenizer, *normalizer);
    sides.push_back(std::move(s));
  };
  if (o.adapter.empty() || o.compare_adapter) run_side("base");
  if (!o.adapter.empty()) {
    models::load_adapter(o.adapter, lm.model->text());
    run_side("adapter");
  }

  fs::create_directories(out_dir);
  {
    std::ofstream csv(fs::path(out_dir) / "predictions.csv");
    std::vector<std::string> header{"id", "reference"};
    const bool both = sides.size() > 1;
    for (const Side& s : sides) {
      const std::string sfx = both ? "_" + s.name : "";
      for (const char* c : {"prediction", "wer", "cer", "chrf", "exact_match", "tokens", "stopped"})
        header.push_back(c + sfx);
    }
    csv << data::csv_record(header);
    for (size_t i = 0; i < rows.size(); ++i) {
      std::vector<std::string> f{rows[i].id, rows[i].reference};
      for (const Side& s : sides) {
        f.push_back(s.texts[i]);
        f.push_back(format(s.words[i].rate()));
        f.push_back(format(s.chars[i].rate()));
        f.push_back(format(s.chrf[i], 2));
        f.push_back(s.exact[i] ? "1" : "0");
        f.push_back(std::to_string(s.answers[i].ids.size()));
        f.push_back(s.answers[i].stopped ? "1" : "0");
      }
      csv << data::csv_record(f);
    }
  }
  nlohmann::json metrics{{"data", file},
                         {"rows", rows.size()},
                         {"model", cfg.model},
                         {"modality", cfg.modality},
                         {"normalizer", o.normalizer},
                         {"max_new_tokens", o.max_new_tokens},
                         {"decoding", "greedy"},
                         {"skipped_rows", ds.summary.skipped},
                         {"truncated_rows", ds.summary.truncated}};
  if (!o.adapter.empty()) metrics["adapter"] = o.adapter;
  std::vector<nlohmann::json> per_side;
  for (const Side& s : sides) per_side.push_back(side_metrics(s, rows.size()));
  if (sides.size() == 1) {
    metrics.update(per_side[0]);
  } else {
    for (size_t i = 0; i < sides.size(); ++i) metrics[sides[i].name] = per_side[i];
  }
  std::ofstream(fs::path(out_dir) / "metrics.json") << metrics.dump(2) << "\n";

  if (o.json) {
    std::cout << metrics.dump() << "\n";
    return;
  }
  std::cout << std::left << std::setw(12) << "" << std::right;
  for (const char* c : {"WER", "CER", "chrF", "exact", "loss", "ppl"}) std::cout << std::setw(12) << c;
  std::cout << "\n";
  for (size_t i = 0; i < sides.size(); ++i) {
    const nlohmann::json& m = per_side[i];
    std::cout << std::left << std::setw(12) << sides[i].name << std::right << std::setw(12) << format(m["wer"].get<double>())
              << std::setw(12) << format(m["cer"].get<double>()) << std::setw(12) << format(m["chrf"].get<double>(), 2)
              << std::setw(12) << format(m["exact_match"].get<double>()) << std::setw(12)
              << format(m["loss"].get<double>()) << std::setw(12) << format(m["perplexity"].get<double>(), 2) << "\n";
  }
  std::cout << rows.size() << " rows; predictions.csv and metrics.json in " << out_dir << "\n";
}

}  // namespace gt::infer
