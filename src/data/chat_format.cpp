#include "data/chat_format.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "core/strings.h"

namespace gt::data {

namespace {

constexpr std::string_view kBos = "<bos>";

}  // namespace

std::string_view role_name(Role r) {
  switch (r) {
    case Role::System: return "system";
    case Role::User: return "user";
    case Role::Model: return "model";
  }
  return "?";
}

int32_t require_single_token(const tok::Tokenizer& tokenizer, std::string_view token, std::string_view needed_for) {
  const std::optional<int32_t> id = tokenizer.find_id(token);
  if (!id)
    fail_input(tokenizer.source_path(), ": the tokenizer has no token ", quote(token), ", which ", needed_for,
               " needs; is it the tokenizer.json of the model being trained?");
  const std::vector<int32_t> ids = tokenizer.encode(token);
  if (ids.size() != 1 || ids[0] != *id)
    fail_input(tokenizer.source_path(), ": the text ", quote(token), " does not tokenize to its token id ", *id,
               " (found ", ids.size(), " tokens); it must be an added token for ", needed_for);
  return *id;
}

ChatFormat::ChatFormat(io::Family family, tok::Tokenizer tokenizer)
    : family_(family), tokenizer_(std::move(tokenizer)) {
  if (family == io::Family::Gemma3n) {
    turn_start_ = "<start_of_turn>";
    turn_end_ = "<end_of_turn>";
  } else {
    turn_start_ = "<|turn>";
    turn_end_ = "<turn|>";
  }
  const std::string why = cat("the ", io::family_name(family), " chat format");
  bos_id_ = require_single_token(tokenizer_, kBos, why);
  require_single_token(tokenizer_, turn_start_, why);
  require_single_token(tokenizer_, turn_end_, why);
}

std::string Turn::rendered_content() const {
  if (media.empty()) return content;
  std::string out;
  size_t at = 0;
  for (const InlineMedia& m : media) {
    GT_CHECK(m.offset >= at && m.offset <= content.size(), "inline media must be sorted and inside the content");
    out.append(content, at, m.offset - at);
    out += m.text;
    at = m.offset;
  }
  out.append(content, at, std::string::npos);
  return out;
}

RenderedChat ChatFormat::render(std::span<const Turn> turns) const {
  RenderedChat out;
  std::string& s = out.text;
  s += kBos;
  const std::string* pending_system = nullptr;  // Gemma 3n: waits for the first user turn
  for (size_t i = 0; i < turns.size(); ++i) {
    const Turn& t = turns[i];
    switch (t.role) {
      case Role::System:
        GT_CHECK(i == 0 && turns.size() > 1 && turns[1].role == Role::User,
                 "a system turn must come first and be followed by a user turn");
        if (family_ == io::Family::Gemma3n) {
          pending_system = &t.content;
        } else {
          s += turn_start_ + "system\n" + t.content + turn_end_ + "\n";
        }
        break;
      case Role::User:
        s += turn_start_ + "user\n";
        if (pending_system) {
          s += *pending_system + "\n\n";
          pending_system = nullptr;
        }
        s += t.rendered_content() + turn_end_ + "\n";
        break;
      case Role::Model: {
        s += turn_start_ + "model\n";
        const size_t begin = s.size();
        s += t.content + turn_end_ + "\n";
        out.trained_spans.emplace_back(begin, s.size());
        break;
      }
    }
  }
  return out;
}

size_t ChatFormat::count_tokens(std::span<const Turn> turns) const {
  return tokenizer_.encode(render(turns).text).size();
}

RowResult<LabeledIds> ChatFormat::tokenize(const RenderedChat& chat) const {
  LabeledIds out;
  out.input_ids = tokenizer_.encode(chat.text);
  out.labels.assign(out.input_ids.size(), kIgnoreIndex);
  const std::string_view text = chat.text;
  // Number of ids before byte `at`, if the whole string's ids split there: ids(text[:at]) followed by
  // ids(text[at:]) must be exactly the whole string's ids. (Prefix ids alone are not enough: a token such as a
  // fused <unk> can absorb bytes on both sides and still leave the prefix's ids unchanged.)
  auto ids_before = [&](size_t at) -> std::optional<size_t> {
    if (at == text.size()) return out.input_ids.size();
    const std::vector<int32_t> head = tokenizer_.encode(text.substr(0, at));
    const std::vector<int32_t> tail = tokenizer_.encode(text.substr(at));
    if (head.size() + tail.size() != out.input_ids.size() ||
        !std::equal(head.begin(), head.end(), out.input_ids.begin()) ||
        !std::equal(tail.begin(), tail.end(), out.input_ids.begin() + static_cast<std::ptrdiff_t>(head.size())))
      return std::nullopt;
    return head.size();
  };
  for (size_t k = 0; k < chat.trained_spans.size(); ++k) {
    const auto [begin, end] = chat.trained_spans[k];
    const std::optional<size_t> first = ids_before(begin);
    const std::optional<size_t> last = first ? ids_before(end) : std::nullopt;
    if (!first || !last)
      return RowResult<LabeledIds>::fail(
          skip_kind::kLabelBoundary,
          cat("the ", first ? "end" : "start", " of model turn ", k + 1, " (byte ", first ? end : begin,
              " of the rendered conversation) falls inside a token, so its labels cannot be placed exactly"));
    for (size_t i = *first; i < *last; ++i) out.labels[i] = out.input_ids[i];
  }
  return RowResult<LabeledIds>::ok(std::move(out));
}

}  // namespace gt::data
