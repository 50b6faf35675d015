// `gemma-tune tokenize`: the model's tokenizer on JSON lines, for checking data and prompts by hand.
//   encode (default): each input line {"text": "..."} -> one JSON array of token ids (no BOS unless --bos)
//   --decode:         each input line [id, ...]        -> one JSON object {"text": "..."}
// One output line per input line, in order; a line that cannot be read prints `null`, its line number and
// reason go to standard error, and the command ends with exit code 1 after the last line.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"  // defines: gt::tok::Tokenizer

namespace gt::cli {

namespace {

struct TokenizeOptions {
  std::string model_dir;
  std::string tokenizer_file;
  bool decode = false;
  bool bos = false;
  bool skip_special = false;
};

tok::Tokenizer load_tokenizer(const TokenizeOptions& o) {
  if (!o.tokenizer_file.empty()) return tok::Tokenizer::from_file(o.tokenizer_file);
  if (o.model_dir.empty()) fail_input("tokenize: give --model DIR (a folder with tokenizer.json) or --tokenizer FILE");
  return tok::Tokenizer::from_model_dir(o.model_dir);
}

// Encodes or decodes one line; throws gt::InputError with the reason on bad content.
std::string process_line(const tok::Tokenizer& tk, const TokenizeOptions& o, const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number past double's range
    fail_input("not valid JSON (", e.what(), ")");
  }
  if (o.decode) {
    if (!j.is_array()) fail_input("expected a JSON array of token ids, found ", j.type_name());
    std::vector<int32_t> ids;
    ids.reserve(j.size());
    for (const auto& v : j) {
      if (!v.is_number_integer()) fail_input("expected integer token ids, found ", v.dump());
      // Read as 64 bits and range-checked, so 4294967297 is refused instead of wrapping to id 1.
      const bool is_unsigned = v.is_number_unsigned();
      const uint64_t u = is_unsigned ? v.get<uint64_t>() : 0;
      const int64_t id = is_unsigned ? 0 : v.get<int64_t>();
      if ((is_unsigned && u >= tk.vocab_size()) || (!is_unsigned && (id < 0 || static_cast<uint64_t>(id) >= tk.vocab_size())))
        fail_input("token id ", v.dump(), " is out of the tokenizer's range (ids 0..", tk.vocab_size() - 1, ")");
      ids.push_back(static_cast<int32_t>(is_unsigned ? u : static_cast<uint64_t>(id)));
    }
    nlohmann::json out = {{"text", tk.decode(ids, o.skip_special)}};
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
    fail_input("expected an object with a string field \"text\"");
  std::vector<int32_t> ids;
  if (o.bos) ids.push_back(tk.require_id("<bos>"));
  std::vector<int32_t> enc = tk.encode(j["text"].get_ref<const std::string&>());
  ids.insert(ids.end(), enc.begin(), enc.end());
  return nlohmann::json(ids).dump();
}

void run_tokenize(const TokenizeOptions& o) {
  tok::Tokenizer tk = load_tokenizer(o);
  std::string line;
  size_t line_no = 0, bad = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    try {
      std::cout << process_line(tk, o, line) << '\n';
    } catch (const InputError& e) {
      ++bad;
      std::cout << "null\n";
      std::cerr << "tokenize: standard input line " << line_no << ": " << e.what() << "\n";
    }
  }
  std::cout.flush();
  if (bad) fail_input("tokenize: ", bad, " of ", line_no, " lines could not be read (see above)");
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand(
      "tokenize",
      "Encode JSON lines {\"text\": ...} from standard input into token-id arrays with a model's tokenizer "
      "(or decode id arrays with --decode).");
  sub->add_option("--model", opts->model_dir, "Model folder holding tokenizer.json");
  sub->add_option("--tokenizer", opts->tokenizer_file, "A tokenizer.json file (instead of --model)");
  sub->add_flag("--decode", opts->decode, "Read JSON arrays of ids and print {\"text\": ...} objects");
  sub->add_flag("--bos", opts->bos, "Prepend the <bos> id when encoding");
  sub->add_flag("--skip-special", opts->skip_special, "Drop special tokens when decoding");
  sub->callback([opts] { run_tokenize(*opts); });
}

}  // namespace gt::cli
