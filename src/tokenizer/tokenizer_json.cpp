#include "tokenizer/tokenizer_json.h"

#include "core/error.h"    // defines: gt::fail_input
#include "core/strings.h"  // defines: gt::quote

namespace gt::tok {

namespace {

using json = nlohmann::json;

// SAX handler: builds a DOM except for model.vocab and model.merges, which it flattens into TokenizerJson.
class Reader : public nlohmann::json_sax<json> {
 public:
  explicit Reader(TokenizerJson& out) : out_(out) {}
  const std::string& error() const { return error_; }

  bool null() override { return mode_ == Mode::kDom ? value(nullptr) : unexpected("null"); }
  bool boolean(bool v) override { return mode_ == Mode::kDom ? value(v) : unexpected("a boolean"); }
  bool number_integer(number_integer_t v) override { return mode_ == Mode::kVocab ? vocab_id(v) : number(v); }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id(v > uint64_t(INT64_MAX) ? int64_t(-1) : int64_t(v));
    return number(v);
  }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool binary(binary_t&) override { return unexpected("binary data"); }

  bool string(string_t& s) override {
    switch (mode_) {
      case Mode::kDom:
        return value(std::move(s));
      case Mode::kVocab:
        return unexpected("a string");
      case Mode::kMerges: {  // older form: "left right"
        const auto begin = uint32_t(out_.merge_chars.size());
        out_.merge_chars += s;
        out_.merges.push_back(TokenizerJson::Merge{begin, begin, uint32_t(out_.merge_chars.size()), false});
        return true;
      }
      case Mode::kMergePair:
        if (pair_parts_ == 1) pair_mid_ = uint32_t(out_.merge_chars.size());
        out_.merge_chars += s;
        ++pair_parts_;
        return true;
    }
    return false;
  }

  bool start_object(std::size_t) override {
    if (mode_ != Mode::kDom) return unexpected("an object");
    if (at_model() && key_ == "vocab") {
      mode_ = Mode::kVocab;
      out_.vocab_read = true;
      return true;
    }
    return open(json::object());
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::kVocab)
      vocab_key_ = std::move(k);
    else
      key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return true;
    }
    return close();
  }

  bool start_array(std::size_t) override {
    switch (mode_) {
      case Mode::kDom:
        if (at_model() && key_ == "merges") {
          mode_ = Mode::kMerges;
          out_.merges_read = true;
          return true;
        }
        return open(json::array());
      case Mode::kMerges:
        mode_ = Mode::kMergePair;
        pair_begin_ = uint32_t(out_.merge_chars.size());
        pair_mid_ = pair_begin_;
        pair_parts_ = 0;
        return true;
      default:
        return unexpected("an array");
    }
  }
  bool end_array() override {
    switch (mode_) {
      case Mode::kMergePair:
        if (pair_parts_ != 2)
          return fail(cat("model.merges[", out_.merges.size(), "]: expected a pair [left, right] of strings, found ",
                          pair_parts_, " string(s)"));
        out_.merges.push_back(
            TokenizerJson::Merge{pair_begin_, pair_mid_, uint32_t(out_.merge_chars.size()), true});
        mode_ = Mode::kMerges;
        return true;
      case Mode::kMerges:
        mode_ = Mode::kDom;
        return true;
      default:
        return close();
    }
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    if (error_.empty()) error_ = cat("not valid JSON (", e.what(), ")");
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };

  // True when the container being filled is the top-level "model" object.
  bool at_model() const { return stack_.size() == 2 && names_[1] == "model" && stack_[1]->is_object(); }

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  bool unexpected(const char* what) {
    switch (mode_) {
      case Mode::kVocab:
        return fail(cat("model.vocab: the id of token ", quote(vocab_key_), " must be an integer, found ", what));
      case Mode::kMerges:
      case Mode::kMergePair:
        return fail(cat("model.merges[", out_.merges.size(),
                        "]: expected a pair [left, right] of strings or a string \"left right\", found ", what));
      case Mode::kDom:
        break;
    }
    return fail(cat("unexpected ", what));
  }

  template <typename V>
  bool number(V v) {
    if (mode_ != Mode::kDom) return unexpected("a number");
    return value(v);
  }

  bool vocab_id(int64_t id) {
    out_.vocab.emplace_back(std::move(vocab_key_), id);
    vocab_key_.clear();
    return true;
  }

  // Puts `v` where the document is at: the root, the end of the open array, or the pending key of the open object.
  json* place(json&& v) {
    if (stack_.empty()) {
      out_.doc = std::move(v);
      return &out_.doc;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  template <typename V>
  bool value(V&& v) {
    place(json(std::forward<V>(v)));
    return true;
  }
  bool open(json&& container) {
    std::string name = !stack_.empty() && stack_.back()->is_object() ? key_ : std::string();
    stack_.push_back(place(std::move(container)));
    names_.push_back(std::move(name));
    return true;
  }
  bool close() {
    stack_.pop_back();
    names_.pop_back();
    return true;
  }

  TokenizerJson& out_;
  Mode mode_ = Mode::kDom;
  std::vector<json*> stack_;        // open containers of the DOM, outermost first
  std::vector<std::string> names_;  // the key under which each open container sits ("" in an array)
  std::string key_;                 // pending key of the open DOM object
  std::string vocab_key_;           // pending token of model.vocab
  uint32_t pair_begin_ = 0, pair_mid_ = 0;
  int pair_parts_ = 0;
  std::string error_;
};

}  // namespace

TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& path) {
  TokenizerJson out;
  Reader reader(out);
  bool ok = json::sax_parse(text, &reader);
  if (!ok || !reader.error().empty())
    fail_input("tokenizer ", path, ": ", reader.error().empty() ? std::string("not valid JSON") : reader.error());
  return out;
}

}  // namespace gt::tok
