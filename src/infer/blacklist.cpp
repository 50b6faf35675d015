// `gemma-tune blacklist` (infer/task_eval.h): the reference tool's blacklist, for any of eval's per-row metrics.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/strings.h"
#include "data/csv_reader.h"
#include "data/csv_writer.h"
#include "data/dataset_files.h"
#include "infer/task_eval.h"

namespace fs = std::filesystem;

namespace gt::infer {

void run_blacklist(const TrainConfig& run, const BlacklistOptions& o) {
  if (o.metric != "wer" && o.metric != "cer" && o.metric != "chrf")
    fail_input("--metric is \"", o.metric, "\", expected wer, cer or chrf");
  if (o.split != "train" && o.split != "validation")
    fail_input("--split is \"", o.split, "\", expected train or validation");
  std::string predictions = o.predictions;
  if (predictions.empty()) {
    TrainConfig cfg = run;
    if (fs::is_directory(cfg.data)) {
      const data::DatasetFiles f = data::find_dataset_files(cfg.data);
      cfg.data = o.split == "train" ? f.train : f.validation;
      if (cfg.data.empty()) fail_input(run.data, ": no validation split to blacklist from");
    }
    TaskEvalOptions eval = o.eval;
    eval.out = (fs::path(o.out).parent_path() / (fs::path(o.out).stem().string() + "-eval")).string();
    run_task_eval(cfg, eval);
    predictions = (fs::path(eval.out) / "predictions.csv").string();
  }
  const data::CsvFile f = data::read_csv_file(predictions);
  auto has = [&](const std::string& c) { return std::find(f.header.begin(), f.header.end(), c) != f.header.end(); };
  // A --compare-adapter file scores the adapter's answers.
  const std::string suffix = has(o.metric) ? "" : "_adapter";
  const std::string column = o.metric + suffix;
  for (const std::string& c : {std::string("id"), std::string("reference"), column, "prediction" + suffix})
    if (!has(c)) fail_input(predictions, ": no \"", c, "\" column; expected a predictions.csv of eval --generate");
  const bool higher_is_worse = o.metric != "chrf";
  std::string out = data::csv_record({"id", "reference", "prediction", o.metric});
  int64_t listed = 0;
  for (const data::CsvRow& r : f.rows) {
    const std::string& text = r.fields.at(column);
    double v = 0;
    try {
      v = std::stod(text);
    } catch (const std::exception&) {
      fail_input(predictions, " row ", r.row, ": ", column, " is \"", text, "\", expected a number");
    }
    if (higher_is_worse ? v > o.threshold : v < o.threshold) {
      out += data::csv_record({r.fields.at("id"), r.fields.at("reference"), r.fields.at("prediction" + suffix), text});
      ++listed;
    }
  }
  if (!o.out.empty() && fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  std::ofstream(o.out) << out;
  std::cout << listed << " of " << f.rows.size() << " rows have " << o.metric << (higher_is_worse ? " > " : " < ")
            << o.threshold << "; written to " << o.out << " (train with --exclude " << o.out << ")\n";
}

}  // namespace gt::infer
