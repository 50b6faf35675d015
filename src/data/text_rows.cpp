#include "data/text_rows.h"


#include <functional>

#include "core/error.h"
#include "core/strings.h"
#include "data/utf8_text.h"

using nlohmann::json;

namespace gt::data {

namespace {

using Result = RowResult<TextRow>;
using TextResult = RowResult<std::string>;

std::string key_name(std::string_view key) { return quote(key); }

// `what` names the value in messages: "column \"prompt\"", "messages[2].content".
std::optional<RowError> check_utf8(std::string_view value, const std::string& what) {
  const size_t bad = find_invalid_utf8(value);
  if (bad == std::string_view::npos) return std::nullopt;
  return RowError{skip_kind::kInvalidUtf8, cat(what, " is not valid UTF-8 (byte ", bad, " of ", value.size(), ")")};
}

TextResult json_string(const json& value, const std::string& what) {
  if (value.is_null()) return TextResult::fail(skip_kind::kMissingColumn, cat(what, " is null; expected a string"));
  if (!value.is_string())
    return TextResult::fail(skip_kind::kWrongType, cat(what, " is a ", value.type_name(), "; expected a string"));
  std::string s = value.get<std::string>();
  if (auto err = check_utf8(s, what)) return TextResult::fail(err->kind, err->reason);
  return TextResult::ok(std::move(s));
}

TextResult json_key_string(const json& row, const std::string& key) {
  if (!row.contains(key)) return TextResult::fail(skip_kind::kMissingColumn, cat("no ", key_name(key), " key"));
  return json_string(row.at(key), key_name(key));
}

std::string key_list(const json& row) {
  std::string out;
  for (const auto& [k, v] : row.items()) out += (out.empty() ? "" : ", ") + key_name(k);
  return out.empty() ? "none" : out;
}

// A prompt/response pair as a conversation; `system` may be empty.
Result exchange(std::string_view prompt, std::string_view response, std::string_view system,
                const TextDatasetOptions& options) {
  ChatRow chat;
  const std::string sys = trim_space(system);
  if (!sys.empty()) chat.turns.push_back({Role::System, sys});
  chat.turns.push_back({Role::User, trim_space(prompt)});
  chat.turns.push_back({Role::Model, trim_space(response)});
  if (chat.turns[chat.turns.size() - 2].content.empty())
    return Result::fail(skip_kind::kEmptyPrompt, cat(key_name(options.prompt_column), " is empty"));
  if (chat.turns.back().content.empty())
    return Result::fail(skip_kind::kEmptyAnswer, cat(key_name(options.response_column), " is empty"));
  return Result::ok(std::move(chat));
}

// A flat media row: user = the media (in the given order) + the prompt, model = the answer. `answer_key` names the
// answer's column in messages.
Result media_exchange(std::vector<std::pair<MediaKind, std::pair<std::string, std::string>>> media,
                      std::string_view prompt, std::string_view answer, const std::string& answer_key,
                      const TextDatasetOptions& options) {
  ChatRow chat;
  const std::string sys = trim_space(options.system_prompt);
  if (!sys.empty()) chat.turns.push_back({Role::System, sys});
  for (auto& [kind, column_and_source] : media) {
    auto& [column, source] = column_and_source;
    if (trim_space(source).empty()) return Result::fail(skip_kind::kMissingColumn, cat(key_name(column), " is empty"));
    chat.media.push_back({kind, chat.turns.size(), 0, trim_space(source)});
  }
  chat.turns.push_back({Role::User, trim_space(prompt)});
  chat.turns.push_back({Role::Model, trim_space(answer)});
  if (chat.turns.back().content.empty()) return Result::fail(skip_kind::kEmptyAnswer, cat(answer_key, " is empty"));
  return Result::ok(std::move(chat));
}

// The reference's flat media rows, from any row that can say which columns it has and give one's text (CSV
// fields, or a JSONL object's string values).
Result flat_media_row(const std::function<bool(const std::string&)>& has,
                      const std::function<TextResult(const std::string&)>& get, const TextDatasetOptions& options) {
  using Media = std::vector<std::pair<MediaKind, std::pair<std::string, std::string>>>;
  Media media;
  auto add = [&](MediaKind kind, const std::string& column) -> std::optional<RowError> {
    TextResult source = get(column);
    if (!source) return source.error;
    media.push_back({kind, {column, *source.value}});
    return std::nullopt;
  };
  if (options.image) {
    const ImageRowOptions& im = *options.image;
    if (auto err = add(MediaKind::Image, im.column)) return Result::fail(err->kind, err->reason);
    if (options.audio) {  // audiovisual: image + clip + the audiovisual prompt, the caption is the answer
      if (auto err = add(MediaKind::Audio, options.audio->column)) return Result::fail(err->kind, err->reason);
      TextResult caption = get(im.caption_column);
      if (!caption) return Result::fail(caption.error.kind, caption.error.reason);
      return media_exchange(std::move(media), options.audiovisual_prompt, *caption.value, key_name(im.caption_column),
                            options);
    }
    const bool vqa = options.image_rows == ImageRowKind::Vqa ||
                     (options.image_rows == ImageRowKind::Auto && has(im.question_column));
    if (vqa) {
      TextResult question = get(im.question_column);
      if (!question) return Result::fail(question.error.kind, question.error.reason);
      TextResult answer = get(im.answer_column);
      if (!answer) return Result::fail(answer.error.kind, answer.error.reason);
      if (trim_space(*question.value).empty())
        return Result::fail(skip_kind::kEmptyPrompt, cat(key_name(im.question_column), " is empty"));
      return media_exchange(std::move(media), *question.value, *answer.value, key_name(im.answer_column), options);
    }
    TextResult caption = get(im.caption_column);
    if (!caption) return Result::fail(caption.error.kind, caption.error.reason);
    return media_exchange(std::move(media), im.prompt, *caption.value, key_name(im.caption_column), options);
  }
  const AudioRowOptions& au = *options.audio;
  if (auto err = add(MediaKind::Audio, au.column)) return Result::fail(err->kind, err->reason);
  TextResult transcript = get(options.text_column);
  if (!transcript) return Result::fail(transcript.error.kind, transcript.error.reason);
  std::string prompt = au.prompt;
  if (has(options.prompt_column)) {
    TextResult p = get(options.prompt_column);
    if (!p) return Result::fail(p.error.kind, p.error.reason);
    if (!trim_space(*p.value).empty()) prompt = *p.value;
  }
  return media_exchange(std::move(media), prompt, *transcript.value, cat(key_name(options.text_column),
                                                                         " (the transcript)"), options);
}

Result completion(std::string text, const TextDatasetOptions& options) {
  if (trim_space(text).empty()) return Result::fail(skip_kind::kEmptyAnswer, cat(key_name(options.text_column), " is empty"));
  return Result::ok(CompletionRow{std::move(text)});
}

struct Content {
  std::string text;
  std::vector<MediaPart> media;  // turn not yet known; offset into text
};
using ContentResult = RowResult<Content>;

ContentResult content_fail(const RowError& e) { return ContentResult::fail(e.kind, e.reason); }

// The source of an audio part: its "path", "audio" or "url" string.
TextResult audio_part_source(const json& part, const std::string& where) {
  for (const char* key : {"path", "audio", "url"}) {
    if (!part.contains(key)) continue;
    TextResult s = json_string(part.at(key), cat(where, ".", key));
    if (s && trim_space(*s.value).empty()) return TextResult::fail(skip_kind::kMissingColumn, cat(where, ".", key, " is empty"));
    if (s) s.value = trim_space(*s.value);
    return s;
  }
  return TextResult::fail(skip_kind::kMissingColumn,
                          cat(where, " is an audio part without \"path\", \"audio\" or \"url\" (a file path or URL)"));
}

// The source of an image part: its "path", "url" or "image" string, or image_url.url (OpenAI's form). Inline images
// (base64 data: URLs) are refused.
TextResult image_part_source(const json& part, const std::string& where) {
  TextResult s = TextResult::fail(skip_kind::kMissingColumn,
                                  cat(where, " is an image part without \"path\", \"url\" or \"image\" (a file path or URL)"));
  for (const char* key : {"path", "url", "image"}) {
    if (!part.contains(key)) continue;
    s = json_string(part.at(key), cat(where, ".", key));
    break;
  }
  if (!part.contains("path") && !part.contains("url") && !part.contains("image") && part.contains("image_url")) {
    const json& u = part.at("image_url");
    s = u.is_object() && u.contains("url") ? json_string(u.at("url"), cat(where, ".image_url.url"))
                                           : json_string(u, cat(where, ".image_url"));
  }
  if (!s) return s;
  s.value = trim_space(*s.value);
  if (s.value->empty()) return TextResult::fail(skip_kind::kMissingColumn, cat(where, " has an empty image source"));
  if (s.value->rfind("data:", 0) == 0)
    return TextResult::fail(skip_kind::kMediaPart, cat(where, " is an inline (data: URL) image; give a \"path\" or \"url\""));
  return s;
}

// The text of a message's content: a string, or a list of parts: text parts, and the media parts of the modality.
ContentResult message_content(const json& content, const std::string& where, const TextDatasetOptions& options) {
  if (content.is_string()) {
    TextResult s = json_string(content, where);
    if (!s) return content_fail(s.error);
    return ContentResult::ok(Content{trim_space(*s.value), {}});
  }
  if (!content.is_array())
    return ContentResult::fail(skip_kind::kWrongType,
                               cat(where, " is a ", content.type_name(), "; expected a string or a list of parts"));
  Content out;
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string part_where = cat(where, "[", j, "]");
    if (!part.is_object() || !part.contains("type") || !part.at("type").is_string())
      return ContentResult::fail(skip_kind::kWrongType,
                                 cat(part_where, " is not a part object with a string \"type\""));
    const std::string type = part.at("type").get<std::string>();
    if (type == "text") {
      if (!part.contains("text"))
        return ContentResult::fail(skip_kind::kMissingColumn, cat(part_where, " is a text part without \"text\""));
      TextResult t = json_string(part.at("text"), part_where + ".text");
      if (!t) return content_fail(t.error);
      out.text += trim_space(*t.value);
    } else if ((type == "image" || type == "image_url") && options.image) {
      TextResult source = image_part_source(part, part_where);
      if (!source) return content_fail(source.error);
      out.media.push_back({MediaKind::Image, 0, out.text.size(), std::move(*source.value)});
    } else if (type == "image" || type == "image_url") {
      return ContentResult::fail(skip_kind::kMediaPart,
                                 cat(part_where, " is an image part; image parts need --modality image or audiovisual"));
    } else if (type == "audio" && options.audio) {
      TextResult source = audio_part_source(part, part_where);
      if (!source) return content_fail(source.error);
      out.media.push_back({MediaKind::Audio, 0, out.text.size(), std::move(*source.value)});
    } else if (type == "audio" || type == "input_audio") {
      return ContentResult::fail(skip_kind::kMediaPart,
                                 cat(part_where, " is an audio part; ",
                                     type == "input_audio" ? "inline (base64) audio is not supported, give a \"path\""
                                                           : "audio parts need --modality audio or audiovisual"));
    } else {
      return ContentResult::fail(skip_kind::kWrongType,
                                 cat(part_where, " has type ", quote(type), "; expected text (or image/audio)"));
    }
  }
  out.text = trim_space(out.text);
  return ContentResult::ok(std::move(out));
}

Result conversation(const json& messages, const TextDatasetOptions& options) {
  if (!messages.is_array())
    return Result::fail(skip_kind::kWrongType, cat("\"messages\" is a ", messages.type_name(), "; expected a list"));
  ChatRow chat;
  std::string system;
  Role expected = Role::User;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = cat("messages[", i, "]");
    if (!m.is_object())
      return Result::fail(skip_kind::kWrongType, cat(where, " is a ", m.type_name(), "; expected an object"));
    if (!m.contains("role")) return Result::fail(skip_kind::kMissingColumn, cat(where, " has no \"role\""));
    TextResult role_text = json_string(m.at("role"), where + ".role");
    if (!role_text) return Result::fail(role_text.error.kind, role_text.error.reason);
    const std::string& r = *role_text.value;
    Role role;
    if (r == "system") {
      role = Role::System;
    } else if (r == "user") {
      role = Role::User;
    } else if (r == "assistant" || r == "model") {
      role = Role::Model;
    } else {
      return Result::fail(skip_kind::kBadConversation,
                          cat(where, ".role is ", quote(r), "; expected system, user, assistant or model"));
    }
    if (!m.contains("content")) return Result::fail(skip_kind::kMissingColumn, cat(where, " has no \"content\""));
    ContentResult parsed = message_content(m.at("content"), where + ".content", options);
    if (!parsed) return Result::fail(parsed.error.kind, parsed.error.reason);
    Content& content = *parsed.value;
    if (!content.media.empty() && role != Role::User)
      return Result::fail(skip_kind::kMediaPart,
                          cat(where, " (", r, ") has an image or audio part; media belong in user turns"));

    if (role == Role::System) {
      if (i != 0)
        return Result::fail(skip_kind::kBadConversation,
                            cat(where, " is a system message; only the first message may be one"));
      system = content.text;
      continue;
    }
    if (role != expected)
      return Result::fail(skip_kind::kBadConversation,
                          cat(where, " is a ", role_name(role), " turn where a ", role_name(expected),
                              " turn was expected; roles must alternate user, model, user, model, ..."));
    if (content.text.empty() && content.media.empty())
      return Result::fail(role == Role::User ? skip_kind::kEmptyPrompt : skip_kind::kEmptyAnswer,
                          cat(where, " (", r, ") is empty"));
    for (MediaPart& m : content.media) {
      m.turn = chat.turns.size();
      chat.media.push_back(std::move(m));
    }
    chat.turns.push_back({role, std::move(content.text)});
    expected = role == Role::User ? Role::Model : Role::User;
  }
  if (chat.turns.empty())
    return Result::fail(skip_kind::kBadConversation, "the conversation has no user and model turns");
  if (chat.turns.back().role != Role::Model)
    return Result::fail(skip_kind::kBadConversation,
                        "the conversation ends with a user turn; the last message must be the model's answer");
  if (system.empty()) system = trim_space(options.system_prompt);
  if (!system.empty()) {
    chat.turns.insert(chat.turns.begin(), Turn{Role::System, system});
    for (MediaPart& m : chat.media) ++m.turn;
  }
  return Result::ok(std::move(chat));
}

// One id or label; `allow_ignore` accepts -100.
std::optional<std::string> token_value(const json& v, size_t vocab_size, bool allow_ignore, int32_t& out) {
  if (!v.is_number_integer()) return cat("is a ", v.type_name(), "; expected an integer");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u >= vocab_size)
      return cat("is ", u, "; expected ", allow_ignore ? "-100 or " : "", "an id in [0, ", vocab_size, ")");
    out = static_cast<int32_t>(u);
    return std::nullopt;
  }
  const int64_t x = v.get<int64_t>();
  if (allow_ignore && x == kIgnoreIndex) {
    out = kIgnoreIndex;
    return std::nullopt;
  }
  if (x < 0 || static_cast<uint64_t>(x) >= vocab_size)
    return cat("is ", x, "; expected ", allow_ignore ? "-100 or " : "", "an id in [0, ", vocab_size, ")");
  out = static_cast<int32_t>(x);
  return std::nullopt;
}

Result token_row(const json& row, size_t vocab_size) {
  TokenRow out;
  for (const char* key : {"input_ids", "labels"}) {
    const bool is_labels = std::string_view(key) == "labels";
    if (is_labels && (!row.contains(key) || row.at(key).is_null())) break;  // labels default to the ids
    const json& list = row.at(key);
    if (!list.is_array())
      return Result::fail(skip_kind::kWrongType, cat("\"", key, "\" is a ", list.type_name(), "; expected a list"));
    std::vector<int32_t>& dst = is_labels ? out.labels : out.input_ids;
    dst.resize(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto err = token_value(list[i], vocab_size, is_labels, dst[i]))
        return Result::fail(skip_kind::kBadTokens, cat(key, "[", i, "] ", *err));
    }
  }
  if (out.input_ids.empty()) return Result::fail(skip_kind::kBadTokens, "\"input_ids\" is empty");
  if (!row.contains("labels") || row.at("labels").is_null()) {
    out.labels = out.input_ids;
  } else if (out.labels.size() != out.input_ids.size()) {
    return Result::fail(skip_kind::kBadTokens, cat("\"labels\" has ", out.labels.size(), " entries and \"input_ids\" ",
                                                   out.input_ids.size(), "; they must be aligned, one label per id"));
  }
  return Result::ok(std::move(out));
}

}  // namespace

RowResult<TextRow> text_row_from_json(const json& row, const TextDatasetOptions& options, size_t vocab_size) {
  if (row.contains("input_ids")) return token_row(row, vocab_size);
  const std::string media_column = options.image ? options.image->column : options.audio ? options.audio->column : "";
  if (!media_column.empty() && row.contains(media_column) && !row.contains("messages"))
    return flat_media_row([&](const std::string& key) { return row.contains(key); },
                          [&](const std::string& key) { return json_key_string(row, key); }, options);
  const bool has_exchange = row.contains(options.prompt_column) || row.contains(options.response_column);
  if (options.mode == TextMode::Instruction) {
    if (row.contains("messages")) return conversation(row.at("messages"), options);
    if (has_exchange) {
      TextResult prompt = json_key_string(row, options.prompt_column);
      if (!prompt) return Result::fail(prompt.error.kind, prompt.error.reason);
      TextResult response = json_key_string(row, options.response_column);
      if (!response) return Result::fail(response.error.kind, response.error.reason);
      return exchange(*prompt.value, *response.value, options.system_prompt, options);
    }
    if (row.contains(options.text_column))
      return Result::fail(skip_kind::kWrongMode,
                          cat("the row has ", key_name(options.text_column), " but no ",
                              key_name(options.prompt_column), "/", key_name(options.response_column),
                              "; plain-text rows need --mode completion"));
    return Result::fail(skip_kind::kMissingColumn,
                        cat("no \"messages\", ", key_name(options.prompt_column), "/",
                            key_name(options.response_column), " or \"input_ids\" key (keys found: ", key_list(row),
                            ")"));
  }
  if (row.contains(options.text_column)) {
    TextResult text = json_key_string(row, options.text_column);
    if (!text) return Result::fail(text.error.kind, text.error.reason);
    return completion(std::move(*text.value), options);
  }
  if (row.contains("messages") || has_exchange)
    return Result::fail(skip_kind::kWrongMode, "conversation rows (messages, prompt/response) need --mode instruction");
  return Result::fail(skip_kind::kMissingColumn, cat("no ", key_name(options.text_column),
                                                     " or \"input_ids\" key (keys found: ", key_list(row), ")"));
}

RowResult<TextRow> text_row_from_csv(const std::map<std::string, std::string>& fields,
                                     const TextDatasetOptions& options) {
  auto field = [&](const std::string& column) -> TextResult {
    auto it = fields.find(column);
    if (it == fields.end()) return TextResult::fail(skip_kind::kMissingColumn, cat("no column ", key_name(column)));
    if (auto err = check_utf8(it->second, cat("column ", key_name(column))))
      return TextResult::fail(err->kind, err->reason);
    return TextResult::ok(it->second);
  };
  if (options.image || options.audio)
    return flat_media_row([&](const std::string& column) { return fields.count(column) > 0; }, field, options);
  if (options.mode == TextMode::Instruction) {
    TextResult prompt = field(options.prompt_column);
    if (!prompt) return Result::fail(prompt.error.kind, prompt.error.reason);
    TextResult response = field(options.response_column);
    if (!response) return Result::fail(response.error.kind, response.error.reason);
    return exchange(*prompt.value, *response.value, options.system_prompt, options);
  }
  TextResult text = field(options.text_column);
  if (!text) return Result::fail(text.error.kind, text.error.reason);
  return completion(std::move(*text.value), options);
}

}  // namespace gt::data
