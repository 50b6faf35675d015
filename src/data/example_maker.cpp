#include "data/example_maker.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/strings.h"
#include "data/example_builder.h"
#include "io/remote_media.h"

namespace gt::data {

ExampleMaker::ExampleMaker(const TextDatasetOptions& options, const tok::Tokenizer& tokenizer, io::Family family,
                           std::string media_base, const std::string& where)
    : options_(options), tokenizer_(tokenizer), media_base_(std::move(media_base)) {
  if (options.mode == TextMode::Instruction) {
    chat_.emplace(family, tokenizer);
    bos_id_ = chat_->bos_id();
  } else {
    bos_id_ = require_single_token(tokenizer, "<bos>", "completion rows");
  }
  if (options.max_seq_len < 2)
    fail_input(where, ": max_seq_len is ", options.max_seq_len, "; expected at least 2 (a token and its target)");
}

RowResult<Example> ExampleMaker::from_json(const nlohmann::json& row) const {
  RowResult<TextRow> parsed = text_row_from_json(row, options_, tokenizer_.vocab_size());
  if (!parsed) return RowResult<Example>::fail(parsed.error.kind, parsed.error.reason);
  return build(*parsed.value);
}

RowResult<Example> ExampleMaker::from_csv(const std::map<std::string, std::string>& fields) const {
  RowResult<TextRow> parsed = text_row_from_csv(fields, options_);
  if (!parsed) return RowResult<Example>::fail(parsed.error.kind, parsed.error.reason);
  return build(*parsed.value);
}

std::vector<std::string> ExampleMaker::remote_media_of(const nlohmann::json& row) const {
  return takes_media() ? remote_media_of(text_row_from_json(row, options_, tokenizer_.vocab_size()))
                       : std::vector<std::string>{};
}

std::vector<std::string> ExampleMaker::remote_media_of(const std::map<std::string, std::string>& fields) const {
  return takes_media() ? remote_media_of(text_row_from_csv(fields, options_)) : std::vector<std::string>{};
}

std::vector<std::string> ExampleMaker::remote_media_of(const RowResult<TextRow>& parsed) const {
  std::vector<std::string> urls;
  const auto* chat = parsed ? std::get_if<ChatRow>(&*parsed.value) : nullptr;
  if (!chat) return urls;
  for (const MediaPart& m : chat->media)
    if (std::string url = resolve(m.source); io::is_remote_medium(url)) urls.push_back(std::move(url));
  return urls;
}

RowResult<Example> ExampleMaker::build(const TextRow& row) const {
  if (const auto* chat = std::get_if<ChatRow>(&row)) {
    GT_CHECK(chat_.has_value(), "conversation rows only come in instruction mode");
    if (chat->media.empty()) return build_chat_example(*chat_, chat->turns, options_.max_seq_len);
    return build_media_example(*chat);
  }
  if (const auto* text = std::get_if<CompletionRow>(&row))
    return build_completion_example(tokenizer_, bos_id_, text->text, options_.max_seq_len);
  return build_token_example(std::get<TokenRow>(row), options_.max_seq_len);
}

// A conversation with images or clips: probe each one, put its placeholder text at its place in its turn, and check
// after tokenization that the placeholders are exactly the media's (a prompt that spells a placeholder token would
// break that).
RowResult<Example> ExampleMaker::build_media_example(const ChatRow& chat) const {
  std::vector<Turn> turns = chat.turns;
  std::vector<AudioRef> clips;
  std::vector<ImageRef> images;
  int64_t audio_tokens = 0, image_tokens = 0;
  for (const MediaPart& m : chat.media) {
    std::string text;
    if (m.kind == MediaKind::Image) {
      GT_CHECK(options_.image && options_.image->probe && options_.image->placeholder_text,
               "image rows need probe and placeholder_text functions");
      RowResult<ImageRef> probed = options_.image->probe(resolve(m.source));
      if (!probed) return RowResult<Example>::fail(probed.error.kind, probed.error.reason);
      text = options_.image->placeholder_text(*probed.value);
      image_tokens += probed.value->soft_tokens;
      images.push_back(std::move(*probed.value));
    } else {
      GT_CHECK(options_.audio && options_.audio->probe && options_.audio->placeholder_text,
               "audio rows need probe and placeholder_text functions");
      RowResult<AudioRef> probed = options_.audio->probe(resolve(m.source));
      if (!probed) return RowResult<Example>::fail(probed.error.kind, probed.error.reason);
      text = options_.audio->placeholder_text(*probed.value);
      audio_tokens += probed.value->soft_tokens;
      clips.push_back(std::move(*probed.value));
    }
    turns[m.turn].media.push_back({m.offset, std::move(text)});
  }
  RowResult<Example> built = build_chat_example(*chat_, std::move(turns), options_.max_seq_len);
  if (!built) return built;
  const std::vector<int32_t>& ids = built.value->input_ids;
  auto check = [&](int32_t id, int64_t want, size_t n, const char* what, const char* kind) -> std::optional<RowError> {
    if (id < 0) return std::nullopt;
    const auto found = std::count(ids.begin(), ids.end(), id);
    if (found == want) return std::nullopt;
    return RowError{kind, cat("the text has ", found, " ", what, " placeholder tokens (id ", id, ") where its ", n,
                              " ", what, " part(s) need ", want,
                              "; does the text itself contain the placeholder token?")};
  };
  if (auto e = check(options_.audio ? options_.audio->placeholder_id : -1, audio_tokens, clips.size(), "audio",
                     skip_kind::kAudioTokens))
    return RowResult<Example>::fail(e->kind, e->reason);
  if (auto e = check(options_.image ? options_.image->placeholder_id : -1, image_tokens, images.size(), "image",
                     skip_kind::kImageTokens))
    return RowResult<Example>::fail(e->kind, e->reason);
  built.value->audio = std::move(clips);
  built.value->images = std::move(images);
  return built;
}

// A medium's source as written in a row -> an absolute path (relative to the dataset folder) or the URL as is.
std::string ExampleMaker::resolve(const std::string& source) const {
  if (source.find("://") != std::string::npos) return source;
  std::filesystem::path p(source);
  if (p.is_absolute()) return source;
  if (media_base_.find("://") != std::string::npos) {  // a remote dataset: its media sit beside it
    std::string base = media_base_;
    if (!base.empty() && base.back() != '/') base += '/';
    return base + p.lexically_normal().generic_string();
  }
  return (std::filesystem::path(media_base_) / p).lexically_normal().string();
}

// A JSONL row's own "id" (a string or an integer), if it has one.
std::string json_row_id(const nlohmann::json& row) {
  if (!row.is_object() || !row.contains("id")) return {};
  const nlohmann::json& id = row["id"];
  if (id.is_string()) return id.get<std::string>();
  if (id.is_number_integer()) return std::to_string(id.get<int64_t>());
  return {};
}

void require_columns(const std::vector<std::string>& header, const TextDatasetOptions& options, const std::string& where) {
  std::vector<std::pair<std::string, const char*>> needed;
  if (options.image) {
    needed = {{options.image->column, "image_column"}};
    if (options.audio) {
      needed.push_back({options.audio->column, "audio_column"});
      needed.push_back({options.image->caption_column, "caption_column"});
    } else if (options.image_rows == ImageRowKind::Vqa ||
               (options.image_rows == ImageRowKind::Auto &&
                std::find(header.begin(), header.end(), options.image->question_column) != header.end())) {
      needed.push_back({options.image->question_column, "question_column"});
      needed.push_back({options.image->answer_column, "answer_column"});
    } else {
      needed.push_back({options.image->caption_column, "caption_column"});
    }
  } else if (options.audio) {
    needed = {{options.audio->column, "audio_column"}, {options.text_column, "text_column"}};
  } else if (options.mode == TextMode::Instruction) {
    needed = {{options.prompt_column, "prompt_column"}, {options.response_column, "response_column"}};
  } else {
    needed = {{options.text_column, "text_column"}};
  }
  for (const auto& [column, option] : needed) {
    if (std::find(header.begin(), header.end(), column) != header.end()) continue;
    std::string columns;
    for (const std::string& h : header) columns += (columns.empty() ? "" : ", ") + h;
    fail_input(where, ": the header has no column ", quote(column), " (columns: ", columns, "); set ", option,
               " to the column that holds it");
  }
}

}  // namespace gt::data
