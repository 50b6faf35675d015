#include "core/train_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "live/live_options.h"  // defines: live_options (the --live port parser)

namespace gt {

const std::vector<ConfigField>& train_config_fields() {
  using C = TrainConfig;
  static const std::vector<ConfigField> fields = {
      {"model", "Hugging Face model folder (config.json, safetensors, tokenizer.json)", &C::model, "data"},
      {"data", "Dataset folder with train.jsonl|csv (and validation.jsonl|csv), or a train file", &C::data, "data"},
      {"val_data", "Validation file (overrides the folder's validation split)", &C::val_data, "data"},
      {"exclude",
       "CSV file whose id column lists dataset rows to leave out, by the rows' own id column/key or as file:row "
       "(train.jsonl:12); `gemma-tune blacklist` writes one",
       &C::exclude, "data"},
      {"out", "Parent folder of run folders", &C::out, "data"},
      {"name", "Run name (default: the model folder's name)", &C::name, "data"},
      {"modality", "text | audio | image | audiovisual", &C::modality, "data"},
      {"mode", "instruction | completion (text); caption | vqa (image)", &C::mode, "data"},
      {"prompt_column", "Column or JSON key of the prompt", &C::prompt_column, "data"},
      {"response_column", "Column or JSON key of the response", &C::response_column, "data"},
      {"text_column", "Column or JSON key of completion text", &C::text_column, "data"},
      {"system_prompt", "System message added to every conversation", &C::system_prompt, "data"},
      {"audio_column", "Column or JSON key of the audio clip (path relative to the dataset folder, or URL)",
       &C::audio_column, "data"},
      {"audio_prompt", "User text after each clip of an audio_path,text row", &C::audio_prompt, "data"},
      {"max_duration", "Longest clip in seconds; longer clips are cut (and counted)", &C::max_duration, "data"},
      {"image_column", "Column or JSON key of the image (path relative to the dataset folder, or URL)",
       &C::image_column, "data"},
      {"caption_column", "Column or JSON key of an image's caption (caption and audiovisual rows)", &C::caption_column,
       "data"},
      {"question_column", "Column or JSON key of the question about an image (VQA rows)", &C::question_column, "data"},
      {"answer_column", "Column or JSON key of the answer (VQA rows)", &C::answer_column, "data"},
      {"image_prompt", "User text after the image of an image_path,caption row", &C::image_prompt, "data"},
      {"audiovisual_prompt", "User text after the image and clip of an audio_path,image_path,caption row",
       &C::audiovisual_prompt, "data"},
      {"shuffle_buffer", "Streamed data: rows held to shuffle the stream (<= 1: read order)", &C::shuffle_buffer,
       "data"},
      {"stream_workers", "Streamed data: shards read at once", &C::stream_workers, "data"},
      {"prefetch_mb", "Streamed data: MiB of rows read ahead, all shards together", &C::prefetch_mb, "data"},
      {"bq_query",
       "BigQuery: a GoogleSQL query whose rows are the training data (run once as a job in the project that --data "
       "bq://PROJECT names; columns are used as CSV columns are)",
       &C::bq_query, "data"},
      {"cache_dir",
       "Streamed data: a folder where whole shards and media (gs://, https) are kept, so that later epochs and runs "
       "read them from this disk; concurrent runs may share it (unset: no disk cache)",
       &C::cache_dir, "data"},
      {"cache_size",
       "Streamed data: the most the --cache-dir folder holds (e.g. 512M, 20G); the least recently used go first",
       &C::cache_size, "data"},
      {"gcs_endpoint",
       "Cloud Storage: the JSON API's root to use instead of https://storage.googleapis.com, with credentials (e.g. a "
       "Private Service Connect endpoint; STORAGE_EMULATOR_HOST is for emulators, without credentials)",
       &C::gcs_endpoint, "data"},
      {"bq_endpoint",
       "BigQuery: the v2 REST API's base to use instead of https://bigquery.googleapis.com/bigquery/v2, with "
       "credentials (BIGQUERY_EMULATOR_HOST is for emulators, without credentials)",
       &C::bq_endpoint, "data"},
      {"image_token_budget", "Gemma 4: soft tokens per image, 70 | 140 | 280 | 560 | 1120 (use the same at inference)",
       &C::image_token_budget, "data"},
      {"lora_r", "LoRA rank (higher: more capacity and memory)", &C::lora_r, "lora"},
      {"lora_alpha", "LoRA alpha; the update is scaled by alpha / r", &C::lora_alpha, "lora"},
      {"lora_dropout", "Dropout on the LoRA input", &C::lora_dropout, "lora"},
      {"lora_precision",
       "Arithmetic of the LoRA path: model (the activations' dtype, e.g. bf16 matmuls with float32 accumulation; "
       "faster) | float32 (PEFT's numerics). The adapter's weights, gradients and optimizer state are float32 either way",
       &C::lora_precision, "lora"},
      {"lora_targets", "Comma-separated module names, or re:<regex> over full module names", &C::lora_targets, "lora"},
      {"lr", "Peak learning rate", &C::lr, "optim"},
      {"lr_scheduler", "constant | linear | cosine (after warmup)", &C::lr_scheduler, "optim"},
      {"warmup_steps", "Linear warmup steps", &C::warmup_steps, "optim"},
      {"weight_decay", "AdamW weight decay", &C::weight_decay, "optim"},
      {"adam_beta1", "AdamW beta1", &C::adam_beta1, "optim"},
      {"adam_beta2", "AdamW beta2", &C::adam_beta2, "optim"},
      {"adam_eps", "AdamW epsilon", &C::adam_eps, "optim"},
      {"max_grad_norm", "Clip the gradient norm to this (0: no clipping)", &C::max_grad_norm, "optim"},
      {"epochs", "Passes over the training set (unless max_steps is set)", &C::epochs, "optim"},
      {"max_steps", "Optimizer steps to run (overrides epochs when > 0)", &C::max_steps, "optim"},
      {"batch_size", "Examples per micro-batch", &C::batch_size, "optim"},
      {"grad_accum", "Micro-batches per optimizer step", &C::grad_accum, "optim"},
      {"max_seq_len", "Longest example in tokens (longer ones are cut)", &C::max_seq_len, "optim"},
      {"seed", "Seed of shuffling, LoRA init and dropout", &C::seed, "optim"},
      {"gradient_checkpointing", "Recompute layer activations in the backward pass (less memory, ~30% slower)",
       &C::gradient_checkpointing, "optim"},
      {"group_by_length",
       "Batch rows of similar length together (within windows of 64 batches, batch order still shuffled): less "
       "padding compute when rows vary in length (local datasets; streamed data is batched as it comes)",
       &C::group_by_length, "optim"},
      {"pack",
       "Text runs, local datasets: place whole examples one after another in each of the batch's rows of --max-seq-len "
       "tokens, each seeing only itself (per-document attention and positions): no padding compute with short rows",
       &C::pack, "optim"},
      {"device", "auto | cpu | cuda | cuda:N | mps", &C::device, "run"},
      {"nproc",
       "Data-parallel processes on this host, one per GPU (cuda:0..N-1) or N CPU processes: each trains on its "
       "--batch-size rows of every global batch of N x --batch-size, and their gradients are summed (NCCL between "
       "GPUs, Gloo on CPU). Several hosts: start one process per GPU with torchrun's variables (RANK, WORLD_SIZE, "
       "LOCAL_RANK, MASTER_ADDR, MASTER_PORT) instead",
       &C::nproc, "run"},
      {"dtype", "auto (bfloat16 on cuda/mps, float32 on cpu) | float32 | bfloat16", &C::dtype, "run"},
      {"quantize",
       "none | int8 | nf4: hold the frozen decoder linears in 8 or 4 bits (QLoRA-style; dequantized for each matmul), "
       "for less memory at a small cost in speed and accuracy; the adapter trains in float32 as without it",
       &C::quantize, "run"},
      {"tower_cache",
       "Audio and image runs: keep each clip's and image's soft tokens (the output of the frozen audio or vision "
       "tower) in this folder, keyed by the medium's bytes and the model and media settings, so later epochs and "
       "later runs skip decoding, features and the tower; runs of the same model and settings may share it, and it "
       "may be deleted at any time (unset: computed every epoch)",
       &C::tower_cache, "run"},
      {"log_every", "Log metrics every N steps", &C::log_every, "run"},
      {"eval_every", "Evaluate on the validation split every N steps (0: at the end of each epoch)", &C::eval_every, "run"},
      {"save_every", "Write a checkpoint every N steps (0: only at the end)", &C::save_every, "run"},
      {"keep_checkpoints", "How many step checkpoints to keep", &C::keep_checkpoints, "run"},
      {"resume", "Run folder to continue from its last checkpoint", &C::resume, "run"},
      {"live",
       "Serve a live page of the run (losses, learning rate, speed, memory, attention, predictions): --live alone = "
       "http://127.0.0.1:8080 or the next free port, --live PORT = that port (0: any free one); the URL is printed",
       &C::live, "live"},
      {"live_host",
       "Address the live page listens on; anything beyond loopback (e.g. 0.0.0.0) serves only with the random token "
       "in the printed URL",
       &C::live_host, "live"},
      {"live_every", "Live page: look inside the model (attention map, top-5 next tokens of a fixed row) every N steps "
       "(0: never)", &C::live_every, "live"},
      {"live_layer", "Live page: the decoder layer whose attention is shown (-1: the middle one)", &C::live_layer,
       "live"},
  };
  return fields;
}

const TrainConfig& default_train_config() {
  static const TrainConfig defaults;
  return defaults;
}

std::string flag_name(const std::string& key) {
  std::string f = "--" + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

namespace {

// The shortest text that reads back as the same double (0.05, not 0.050000000000000003).
std::string shortest(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

const ConfigField& find_field(const std::string& key, const std::string& where) {
  for (const ConfigField& f : train_config_fields())
    if (f.key == key) return f;
  fail_input(where, ": unknown option '", key, "'");
}

void set_from_text(TrainConfig& cfg, const ConfigField& f, const std::string& value, const std::string& where) {
  std::visit(
      [&](auto member) {
        using T = std::remove_cvref_t<decltype(cfg.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          cfg.*member = value;
        } else if constexpr (std::is_same_v<T, bool>) {
          std::string v = value;
          std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return char(std::tolower(c)); });
          if (v == "true" || v == "1" || v == "yes" || v == "on")
            cfg.*member = true;
          else if (v == "false" || v == "0" || v == "no" || v == "off")
            cfg.*member = false;
          else
            fail_input(where, ": ", f.key, " is \"", value, "\", expected true or false");
        } else if constexpr (std::is_same_v<T, int64_t>) {
          size_t used = 0;
          int64_t v = 0;
          try {
            v = std::stoll(value, &used);
          } catch (...) {
            used = 0;
          }
          if (used != value.size() || value.empty()) fail_input(where, ": ", f.key, " is \"", value, "\", expected an integer");
          cfg.*member = v;
        } else {
          size_t used = 0;
          double v = 0;
          try {
            v = std::stod(value, &used);
          } catch (...) {
            used = 0;
          }
          if (used != value.size() || value.empty()) fail_input(where, ": ", f.key, " is \"", value, "\", expected a number");
          cfg.*member = v;
        }
      },
      f.member);
}

}  // namespace

void apply_text(TrainConfig& cfg, const std::string& key, const std::string& value) {
  set_from_text(cfg, find_field(key, "command line"), value, "command line " + flag_name(key));
}

std::vector<std::string> apply_yaml(TrainConfig& cfg, const std::string& path) {
  std::vector<std::string> keys;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    fail_input(path, ": cannot read the run config");
  } catch (const YAML::Exception& e) {
    fail_input(path, ": not valid YAML (", e.what(), ")");
  }
  if (root.IsNull()) return keys;
  if (!root.IsMap()) fail_input(path, ": a run config is a map of option: value");
  for (const auto& kv : root) {
    // A key that is a list or a map (YAML's "? [a, b]" form) names no option; as<std::string>() would throw
    // yaml-cpp's own exception.
    if (!kv.first.IsScalar())
      fail_input(path, ": line ", kv.first.Mark().line + 1, ": an option name must be a single word, not a list or map");
    const std::string key = kv.first.as<std::string>();
    const ConfigField& f = find_field(key, path);
    if (!kv.second.IsScalar() && !kv.second.IsNull())
      fail_input(path, ": ", key, " must be a single value (line ", kv.second.Mark().line + 1, ")");
    if (kv.second.IsNull()) continue;
    set_from_text(cfg, f, kv.second.as<std::string>(), cat(path, " line ", kv.second.Mark().line + 1));
    keys.push_back(key);
  }
  return keys;
}

std::string to_yaml(const TrainConfig& cfg) {
  std::ostringstream os;
  std::string group;
  for (const ConfigField& f : train_config_fields()) {
    if (f.group != group) {
      os << (group.empty() ? "" : "\n") << "# " << f.group << "\n";
      group = f.group;
    }
    YAML::Emitter e;
    std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(cfg.*member)>;
          if constexpr (std::is_same_v<T, std::string>)
            e << YAML::DoubleQuoted << cfg.*member;
          else if constexpr (std::is_same_v<T, bool>)
            e << YAML::TrueFalseBool << cfg.*member;
          else if constexpr (std::is_same_v<T, int64_t>)
            e << static_cast<long long>(cfg.*member);
          else
            e << shortest(cfg.*member);
        },
        f.member);
    os << f.key << ": " << e.c_str() << "\n";
  }
  return os.str();
}

std::string config_value_text(const TrainConfig& cfg, const ConfigField& f) {
  return std::visit(
      [&](auto member) -> std::string {
        using T = std::remove_cvref_t<decltype(cfg.*member)>;
        if constexpr (std::is_same_v<T, std::string>)
          return cfg.*member;
        else if constexpr (std::is_same_v<T, bool>)
          return cfg.*member ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>)
          return std::to_string(cfg.*member);
        else
          return shortest(cfg.*member);
      },
      f.member);
}

void validate(const TrainConfig& c) {
  auto choice = [](const std::string& key, const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
      if (v == a) return;
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    fail_input(flag_name(key), " is \"", v, "\", expected one of ", list);
  };
  // Written so that NaN (YAML's .nan) fails every check; infinity is no setting either.
  auto positive = [](const std::string& key, double v) {
    if (!(v > 0) || std::isinf(v)) fail_input(flag_name(key), " is ", v, ", expected a positive value");
  };
  auto non_negative = [](const std::string& key, double v) {
    if (!(v >= 0) || std::isinf(v)) fail_input(flag_name(key), " is ", v, ", expected a value >= 0");
  };
  auto unit_interval = [](const std::string& key, double v) {  // [0, 1)
    if (!(v >= 0 && v < 1)) fail_input(flag_name(key), " is ", v, ", expected [0, 1)");
  };
  choice("modality", c.modality, {"text", "audio", "image", "audiovisual"});
  choice("mode", c.mode, {"instruction", "completion", "caption", "vqa"});
  if (c.image_token_budget != 70 && c.image_token_budget != 140 && c.image_token_budget != 280 &&
      c.image_token_budget != 560 && c.image_token_budget != 1120)
    fail_input("--image-token-budget is ", c.image_token_budget, ", expected one of 70, 140, 280, 560, 1120");
  choice("lr_scheduler", c.lr_scheduler, {"constant", "linear", "cosine"});
  choice("quantize", c.quantize, {"none", "int8", "nf4"});
  if (!c.live.empty()) (void)live::live_options(c.live, c.live_host);  // the one parser of --live's port
  if (c.live_every < 0) fail_input("--live-every is ", c.live_every, ", expected steps >= 0 (0: no probes)");
  if (c.live_layer < -1) fail_input("--live-layer is ", c.live_layer, ", expected a layer index or -1 (the middle)");
  if (c.pack && c.modality != "text")
    fail_input("--pack is for text runs (--modality is \"", c.modality, "\"); media rows are batched one a row");
  choice("dtype", c.dtype, {"auto", "float32", "bfloat16"});
  positive("lora_r", static_cast<double>(c.lora_r));
  positive("max_duration", c.max_duration);
  positive("lora_alpha", c.lora_alpha);
  choice("lora_precision", c.lora_precision, {"model", "float32"});
  unit_interval("lora_dropout", c.lora_dropout);
  positive("lr", c.lr);
  non_negative("warmup_steps", static_cast<double>(c.warmup_steps));
  non_negative("weight_decay", c.weight_decay);
  unit_interval("adam_beta1", c.adam_beta1);
  unit_interval("adam_beta2", c.adam_beta2);
  positive("adam_eps", c.adam_eps);
  non_negative("max_grad_norm", c.max_grad_norm);
  positive("epochs", static_cast<double>(c.epochs));
  non_negative("max_steps", static_cast<double>(c.max_steps));
  positive("batch_size", static_cast<double>(c.batch_size));
  positive("stream_workers", static_cast<double>(c.stream_workers));
  positive("prefetch_mb", static_cast<double>(c.prefetch_mb));
  positive("grad_accum", static_cast<double>(c.grad_accum));
  if (c.nproc < 1 || c.nproc > 1024) fail_input("--nproc is ", c.nproc, ", expected 1 to 1024 processes");
  if (c.max_seq_len < 8) fail_input("--max-seq-len is ", c.max_seq_len, ", expected at least 8");
  positive("log_every", static_cast<double>(c.log_every));
  non_negative("eval_every", static_cast<double>(c.eval_every));
  non_negative("save_every", static_cast<double>(c.save_every));
  positive("keep_checkpoints", static_cast<double>(c.keep_checkpoints));
}

}  // namespace gt
