// `gemma-tune generate`: text from a model (and optionally a LoRA adapter) for a prompt with its images and clips,
// or for every conversation of a JSONL file. See infer/commands.h.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "infer/commands.h"

namespace gt::cli {

void add_generate(CLI::App& app) {
  auto o = std::make_shared<infer::GenerateOptions>();
  CLI::App* sub = app.add_subcommand(
      "generate",
      "Generate an answer with a model and optionally a LoRA adapter. The prompt is put in the model family's chat "
      "format with the generation prompt (unless --raw); the answer streams to standard output and ends at the "
      "end-of-turn or end-of-sequence token. Sampling defaults come from the model's generation_config.json "
      "(greedy when it has none); --temperature 0 is greedy.");
  sub->add_option("--model", o->model, "Hugging Face model folder (Gemma 3n or Gemma 4)")->required();
  sub->add_option("--adapter", o->adapter,
                  "LoRA adapter folder (PEFT format); an adapter trained on images brings its image token budget");
  sub->add_option("--prompt", o->prompt, "The user's message");
  sub->add_option("--messages", o->messages,
                  "JSONL file, one conversation per line ending with a user turn: {\"messages\": [{\"role\": "
                  "\"user\", \"content\": ...}]} (content as in training data, image and audio parts included) or "
                  "{\"prompt\": \"...\"}");
  sub->add_option("--system", o->system, "A system message before --prompt");
  sub->add_option("--image", o->images, "Image file or URL placed before the prompt's text (repeatable)");
  sub->add_option("--audio", o->audio, "Audio file or URL placed after the images (repeatable)");
  sub->add_option("--max-new-tokens", o->max_new_tokens, "Most tokens to generate per prompt")
      ->capture_default_str()
      ->check(positive_number());
  sub->add_option("--temperature", o->temperature, "Sampling temperature; 0 = greedy (arg-max)")
      ->check(non_negative_number());
  sub->add_option("--top-k", o->top_k, "Sample among the k most likely tokens (0 = all)")
      ->check(non_negative_number());
  sub->add_option("--top-p", o->top_p, "Sample among the most likely tokens whose probabilities sum to p");
  sub->add_option("--repetition-penalty", o->repetition_penalty,
                  "Penalty for tokens already in the prompt or the answer (1 = none; transformers' rule)");
  sub->add_option("--seed", o->seed, "Seed of the sampler (same seed, same tokens on any device)")->capture_default_str();
  sub->add_flag("--raw", o->raw, "Tokenize --prompt as given with <bos> in front: no chat format");
  sub->add_flag("--json", o->json,
                "Print one JSON object per prompt when it is done: {\"ids\", \"text\", \"prompt_tokens\", "
                "\"stopped\", \"prefill_s\", \"tokens_per_s\"} (ids without the stop token)");
  sub->add_option("--batch-size", o->batch_size,
                  "--messages conversations generated together (answers are printed when their batch is done)")
      ->capture_default_str()
      ->check(positive_number());
  sub->add_option("--image-token-budget", o->image_token_budget,
                  "Gemma 4: soft tokens per image (70, 140, 280, 560, 1120); default: the adapter's, else 280");
  sub->add_option("--max-duration", o->max_duration, "Seconds kept of each audio clip")
      ->capture_default_str()
      ->check(positive_number());
  sub->add_option("--device", o->device, "auto | cpu | cuda | cuda:N | mps")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "auto (bf16 on cuda/mps, float32 on cpu) | float32 | bfloat16")
      ->capture_default_str();
  sub->callback([o] { infer::run_generate(*o); });
}

}  // namespace gt::cli
