// The configuration of a training run: every option with its default, its help text and its YAML key, in one
// table, so that the command line, the YAML run config and the resolved config.yaml of a run folder can never
// disagree. Resolution order: defaults < YAML file (--config) < command-line flags. Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace gt {

struct TrainConfig {
  // What to train on
  std::string model;             // Hugging Face model folder
  std::string data;              // dataset folder (train.*, validation.*) or a train file
  std::string val_data;          // explicit validation file (optional)
  std::string exclude;           // CSV whose "id" column lists rows to leave out ("train.jsonl:12"), e.g. a blacklist
  std::string out = "runs";      // parent folder of run folders
  std::string name;              // run name (default: model folder name)
  std::string modality = "text";     // text | audio | image | audiovisual
  std::string mode = "instruction";  // instruction | completion | caption | vqa
  std::string prompt_column = "prompt";
  std::string response_column = "response";
  std::string text_column = "text";
  std::string system_prompt;
  // Audio rows (--modality audio)
  std::string audio_column = "audio_path";
  std::string audio_prompt = "Please transcribe this audio.";
  double max_duration = 30.0;  // seconds; longer clips are cut
  // Image rows (--modality image, audiovisual)
  std::string image_column = "image_path";
  std::string caption_column = "caption";
  std::string question_column = "question";
  std::string answer_column = "answer";
  std::string image_prompt = "Describe this image.";
  std::string audiovisual_prompt = "Describe what is happening using the attached audio and image.";
  int64_t image_token_budget = 280;  // Gemma 4: soft tokens per image (70, 140, 280, 560 or 1120)
  // Streamed datasets (--data gs://... or https://...)
  int64_t shuffle_buffer = 10000;  // rows held to shuffle the stream (<= 1: read order)
  int64_t stream_workers = 4;      // shards read at once
  int64_t prefetch_mb = 64;        // MiB of rows read ahead, all shards together
  std::string bq_query;            // BigQuery: train on this query's rows (--data bq://PROJECT runs it)
  std::string cache_dir;           // keep whole shards and media on this disk for later epochs ("" = none)
  std::string cache_size = "10G";  // the disk cache's budget (K, M, G, T: binary units)
  std::string gcs_endpoint;        // Cloud Storage API root with credentials ("" = emulator variables or public)
  std::string bq_endpoint;         // BigQuery v2 API base with credentials ("" = emulator variable or public)
  // LoRA
  int64_t lora_r = 16;
  double lora_alpha = 32.0;
  double lora_dropout = 0.05;
  std::string lora_precision = "model";  // model (the activations' dtype) | float32 (PEFT's numerics)
  std::string lora_targets = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj";
  // Optimisation
  double lr = 2e-4;
  std::string lr_scheduler = "linear";  // constant | linear | cosine
  int64_t warmup_steps = 0;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
  double max_grad_norm = 1.0;  // 0 = no clipping
  int64_t epochs = 1;
  int64_t max_steps = 0;  // > 0 overrides epochs
  int64_t batch_size = 4;
  int64_t grad_accum = 1;
  int64_t max_seq_len = 1024;
  int64_t seed = 42;
  bool gradient_checkpointing = false;
  bool group_by_length = false;  // local datasets: batch rows of similar length (data::length_grouped_order)
  bool pack = false;  // text runs, local datasets: examples packed into rows of max_seq_len (data::pack_examples)
  // Where and how
  std::string device = "auto";  // auto | cpu | cuda | cuda:N | mps
  int64_t nproc = 1;            // data-parallel processes on this host (train/launcher.h)
  std::string dtype = "auto";   // auto (bf16 on cuda/mps, float32 on cpu) | float32 | bfloat16
  std::string quantize = "none";  // none | int8 | nf4: the frozen decoder linears (models/common/quantized_weight.h)
  std::string tower_cache;  // folder of the frozen towers' soft tokens per clip / image (train/tower_cache.h); "" = off
  // Periodic work
  int64_t log_every = 1;
  int64_t eval_every = 0;    // steps; 0 = at the end of each epoch
  int64_t save_every = 100;  // steps; 0 = only at the end
  int64_t keep_checkpoints = 3;
  std::string resume;  // run folder to continue
  // The live page (live/live_server.h, train/live_probe.h)
  std::string live;                    // "" = off; "auto" (--live alone) = port 8080 or the next free; "N" = port N
  std::string live_host = "127.0.0.1";  // beyond loopback the page needs the token in its printed URL
  int64_t live_every = 50;             // steps between probes (attention map, top-5 predictions); 0 = no probes
  int64_t live_layer = -1;             // decoder layer whose attention the page shows; -1 = the middle one
  // Not an option of the table (never written to config.yaml or anywhere else): --access-token, an OAuth 2.0 token
  // for Cloud Storage, given on each command line, resumes included.
  std::string access_token;
};

// The defaults above, for other option structs to take theirs from (data::TextDatasetOptions, ...).
const TrainConfig& default_train_config();

// One option of the table.
struct ConfigField {
  std::string key;   // YAML key; the flag is "--" + key with '_' -> '-'
  std::string help;
  std::variant<std::string TrainConfig::*, int64_t TrainConfig::*, double TrainConfig::*, bool TrainConfig::*> member;
  std::string group;
};

const std::vector<ConfigField>& train_config_fields();

// Applies a YAML run config (a map of keys from the table). Unknown keys and wrong types are InputErrors that
// name the file, the key and the expected type. Returns the keys the file set, in its order.
std::vector<std::string> apply_yaml(TrainConfig& cfg, const std::string& yaml_path);
// Applies one value given as text (from a flag): "--lr 1e-4" -> apply_text(cfg, "lr", "1e-4").
void apply_text(TrainConfig& cfg, const std::string& key, const std::string& value);
// The resolved config as YAML (every key, in table order, with group comments).
std::string to_yaml(const TrainConfig& cfg);
// One option's value as text (shortest round-trip numbers, true/false), e.g. for --help defaults.
std::string config_value_text(const TrainConfig& cfg, const ConfigField& f);
// Checks ranges and choices; throws gt::InputError naming the option.
void validate(const TrainConfig& cfg);

// "--max-seq-len" for "max_seq_len".
std::string flag_name(const std::string& key);

}  // namespace gt
