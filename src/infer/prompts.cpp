#include "infer/prompts.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/progress.h"
#include "core/strings.h"

namespace gt::infer {

std::string answer_text(const tok::Tokenizer& tokenizer, const std::vector<int64_t>& ids) {
  std::vector<int32_t> known;
  for (int64_t id : ids)
    if (id >= 0 && id < static_cast<int64_t>(tokenizer.vocab_size())) known.push_back(static_cast<int32_t>(id));
  return tokenizer.decode(known, /*skip_special=*/true);
}

PromptRow prompt_from_example(const data::Example& e, const tok::Tokenizer& tokenizer) {
  // The last trained span: the last model turn's content, its end-of-turn marker and the "\n" after it.
  int64_t end = static_cast<int64_t>(e.labels.size());
  while (end > 0 && e.labels[static_cast<size_t>(end - 1)] == data::kIgnoreIndex) --end;
  int64_t begin = end;
  while (begin > 0 && e.labels[static_cast<size_t>(begin - 1)] != data::kIgnoreIndex) --begin;
  if (end == 0 || begin == 0)
    fail_input(e.source, ": no model turn to generate (generation needs conversation or prompt/response rows, not "
                         "plain text)");
  PromptRow p;
  p.ids.assign(e.input_ids.begin(), e.input_ids.begin() + begin);
  p.audio = e.audio;
  p.images = e.images;
  p.source = e.source;
  p.id = e.row_id.empty() ? e.source : e.row_id;
  p.truncated = e.truncated;
  std::vector<int32_t> answer(e.input_ids.begin() + begin, e.input_ids.begin() + end);
  p.reference = std::string(trim(tokenizer.decode(answer, /*skip_special=*/true)));
  return p;
}

models::MediaInputs prompt_media(const std::vector<const PromptRow*>& rows, const train::MediaReaders& readers) {
  data::Batch b;
  for (const PromptRow* r : rows) {
    b.audio.insert(b.audio.end(), r->audio.begin(), r->audio.end());
    b.images.insert(b.images.end(), r->images.begin(), r->images.end());
  }
  if (!b.images.empty() && !readers.images)
    fail_input(rows.front()->source, ": images need --modality image or audiovisual");
  if (!b.audio.empty() && !readers.audio)
    fail_input(rows.front()->source, ": audio needs --modality audio or audiovisual");
  return train::media_inputs(b, readers);
}

std::vector<Generation> generate_rows(models::Model& model, const std::vector<PromptRow>& rows,
                                      const train::MediaReaders& readers, const GenerationOptions& o,
                                      int64_t batch_size, const std::string& label, GenerationTimes* times) {
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  // Similar lengths together: less padding in each batch; each row's result does not depend on its batch.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].ids.size() < rows[b].ids.size(); });
  std::vector<Generation> out(rows.size());
  Progress bar(label, static_cast<int64_t>(rows.size()), 30.0);
  int64_t done = 0, new_tokens = 0;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(std::max<int64_t>(1, batch_size))) {
    const size_t e = std::min(order.size(), s + static_cast<size_t>(std::max<int64_t>(1, batch_size)));
    std::vector<const PromptRow*> batch;
    std::vector<std::vector<int64_t>> ids;
    for (size_t i = s; i < e; ++i) {
      batch.push_back(&rows[order[i]]);
      ids.push_back(rows[order[i]].ids);
    }
    GenerationTimes t;
    std::vector<Generation> g = generate(model, left_pad(ids, o.pad_id), prompt_media(batch, readers), o, {}, &t);
    for (size_t i = s; i < e; ++i) out[order[i]] = std::move(g[i - s]);
    if (times) {
      times->prefill_s += t.prefill_s;
      times->decode_s += t.decode_s;
      times->new_tokens += t.new_tokens;
    }
    done += static_cast<int64_t>(e - s);
    new_tokens += t.new_tokens;
    bar.update(done, cat(new_tokens, " tokens"));
  }
  bar.finish();
  return out;
}

}  // namespace gt::infer
