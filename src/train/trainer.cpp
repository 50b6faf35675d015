// `gemma-tune train`: LoRA training of a text decoder, readable top to bottom (llm.c's train_gpt2 shape):
//   set-up      run folder, model, adapter, data, optimizer; on --resume, the last checkpoint
//   loop        periodic work first (evaluation, checkpoint), then the step: micro-batches -> forward ->
//               chunked loss -> backward scaled by 1 / supervised tokens of the whole step (so accumulation equals
//               one large batch) -> clip -> AdamW -> schedule
//   end         final evaluation, adapter in PEFT format, metadata, integrity manifest
// Ctrl-C (SIGINT/SIGTERM) finishes the current step, writes a checkpoint and marks the run cancelled; an error
// marks it failed and keeps the checkpoints already written. Metrics go to metrics.jsonl and the progress line.
#include <torch/torch.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/device.h"
#include "core/error.h"
#include "core/files.h"
#include "core/gpu_usage.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/dataset_files.h"
#include "data/text_dataset.h"
#include "io/integrity.h"
#include "io/object_reader.h"
#include "io/run_index.h"
#include "models/common/lora_targets.h"
#include "models/common/loss.h"
#include "models/peft_adapter.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/batches_torch.h"
#include "train/checkpoint.h"
#include "train/commands.h"
#include "train/distributed.h"
#include "train/launcher.h"
#include "train/run_setup.h"
#include "train/test_hooks.h"
#include "train/optimizer.h"
#include "train/run_folder.h"
#include "train/live_run.h"
#include "live/run_events.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::train {

namespace {

std::atomic<int> g_interrupts{0};

void on_signal(int) {
  // First Ctrl-C: stop after this step with a checkpoint (during set-up: at the next set-up stage, the run marked
  // cancelled). Second: leave now. write(2) is safe in a signal handler; iostreams are not.
  if (g_interrupts.fetch_add(1) >= 1) std::_Exit(130);
  static const char msg[] = "\ninterrupted: stopping at the next safe point (Ctrl-C again to leave at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}

// Thrown at a set-up stage after a Ctrl-C: the run ends `cancelled` before any training (exit 130).
struct CancelledDuringSetUp {
  std::string stage;
};
void stop_if_interrupted(const char* stage) {
  if (g_interrupts.load() > 0) throw CancelledDuringSetUp{stage};
}

struct SignalGuard {
  using Handler = void (*)(int);
  Handler old_int, old_term;
  SignalGuard() {
    g_interrupts = 0;
    old_int = std::signal(SIGINT, on_signal);
    old_term = std::signal(SIGTERM, on_signal);
  }
  ~SignalGuard() {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
  }
};

// Adapter weights that are NaN or infinite are never written: a diverged run must not leave a checkpoint or an
// adapter that looks usable.
void require_finite_adapter(const std::vector<std::pair<std::string, at::Tensor>>& named, const std::string& what) {
  for (const auto& [name, t] : named)
    if (!torch::isfinite(t.detach()).all().item<bool>())
      fail_input(what, ": LoRA weight '", name, "' holds NaN or infinite values (training diverged); nothing was "
                 "written; try a lower --lr or --dtype float32");
}

// The test hook GT_TEST_STOP_AFTER_STEP=N behaves like Ctrl-C after step N (used by the resume tests).
int64_t stop_after_step() {
  const char* s = std::getenv("GT_TEST_STOP_AFTER_STEP");
  return s ? std::atoll(s) : -1;
}

// The test hook GT_TEST_STEP_DELAY_MS=N sleeps N ms after each step, so a test can watch a tiny run live.
std::chrono::milliseconds step_delay() {
  const char* s = std::getenv("GT_TEST_STEP_DELAY_MS");
  return std::chrono::milliseconds(s ? std::atoll(s) : 0);
}

std::string describe_memory(const std::string& device) {
  const uint64_t peak = peak_memory_bytes(device);
  return peak ? format_bytes(static_cast<double>(peak)) : "?";
}

// The run's training batches: from the examples of a local dataset (BatchIterator), or streamed from remote shards
// (StreamingBatches, whose size is unknown until read).
class TrainBatches {
 public:
  TrainBatches(const std::vector<data::Example>& examples, const data::BatchOptions& o, const TrainerState& s)
      : local_(std::make_unique<data::BatchIterator>(examples, o, data::DataPosition{s.epoch, s.index_in_epoch})) {}
  TrainBatches(std::unique_ptr<data::StreamingBatches> stream, const io::ObjectCache* cache)
      : stream_(std::move(stream)), cache_(cache) {}

  data::Batch next() { return local_ ? local_->next() : stream_->next(); }
  // Micro-batches per epoch; nullopt for a stream.
  std::optional<int64_t> per_epoch() const {
    return local_ ? std::optional<int64_t>(local_->batches_per_epoch()) : std::nullopt;
  }
  // Epochs done, for the metrics: exact for a local dataset, the epoch number for a stream.
  double epochs(int64_t micro_done) const {
    if (local_) return static_cast<double>(micro_done) / static_cast<double>(local_->batches_per_epoch());
    return static_cast<double>(stream_->counters().epoch);
  }
  // For the progress line: "  epoch 1, 12345 rows (2.1k/s), 56.7 MB (9.8 MB/s) read" for a stream, "" otherwise.
  std::string progress() const {
    if (!stream_) return {};
    const data::StreamingCounters c = stream_->counters();
    const double t = std::max(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), 1e-9);
    const double bytes = static_cast<double>(c.total_bytes);
    return cat("  epoch ", c.epoch, ", ", c.total_rows, " rows (", std::llround(static_cast<double>(c.total_rows) / t),
               "/s), ", format_bytes(bytes), " (", format_bytes(bytes / t), "/s) read", cache_progress());
  }
  // A stream's counts, for metadata.json: "epoch 1: 1234 rows read (12 skipped, 0 excluded), 56.7 MB".
  std::string describe() const {
    const data::StreamingCounters c = stream_->counters();
    return cat(stream_->shards().size(), " shard(s); ", c.total_rows, " rows read by this process; epoch ", c.epoch,
               ": ", c.rows, " rows, ", c.examples, " examples, ", c.skipped, " skipped, ", c.excluded, " excluded, ",
               format_bytes(static_cast<double>(c.total_bytes)), " read by this process", cache_progress());
  }
  void save(TrainerState& s) const {
    if (local_) {
      s.epoch = local_->position().epoch;
      s.index_in_epoch = local_->position().index_in_epoch;
    } else {
      s.epoch = stream_->counters().epoch;
      s.stream = stream_->state();
    }
  }
  // Stream figures since the last call (rows and MB read per second), empty for a local dataset.
  json stream_metrics() {
    if (!stream_) return json::object();
    const data::StreamingCounters c = stream_->counters();
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::max(std::chrono::duration<double>(now - last_).count(), 1e-9);
    last_ = now;
    json j = {{"stream_rows", c.total_rows},
              {"stream_rows_per_s", static_cast<double>(c.total_rows - last_rows_) / dt},
              {"stream_mb_per_s", static_cast<double>(c.total_bytes - last_bytes_) / dt / 1e6},
              {"stream_skipped", c.skipped}};
    if (cache_) {
      const io::ObjectCacheStats cs = cache_->stats();
      j["cache_hits"] = cs.hits;
      j["cache_stored"] = cs.stored;
      j["cache_mb"] = static_cast<double>(cs.bytes_held) / 1e6;
    }
    last_rows_ = c.total_rows;
    last_bytes_ = c.total_bytes;
    return j;
  }

 private:
  std::unique_ptr<data::BatchIterator> local_;
  // ", disk cache 12 hits, 3 stored (45.6 MB)", or "" without a cache.
  std::string cache_progress() const {
    if (!cache_) return {};
    const io::ObjectCacheStats cs = cache_->stats();
    return cat(", disk cache ", cs.hits, " hits, ", cs.stored, " stored (", format_bytes(static_cast<double>(cs.bytes_held)),
               ")");
  }

  std::unique_ptr<data::StreamingBatches> stream_;
  const io::ObjectCache* cache_ = nullptr;
  int64_t last_rows_ = 0;
  uint64_t last_bytes_ = 0;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// A data-parallel process's device: GPU LOCAL_RANK, or the CPU.
std::string rank_device(const std::string& requested, const World& world) {
  const std::string resolved = resolve_device(requested);
  if (resolved.rfind("cuda", 0) == 0) return cat("cuda:", world.local_rank);
  if (resolved != "cpu")
    fail_input("--device ", requested, " (", resolved, "): a data-parallel run of ", world.size,
               " processes needs one CUDA GPU per process, or --device cpu");
  return resolved;
}

// How long a process waits for the others at the rendezvous and in each collective (rank 0's evaluations run while
// the others wait at the next step).
constexpr std::chrono::minutes kGroupTimeout{60};

}  // namespace

int run_train(const TrainConfig& config) {
  // A data-parallel run (--nproc, or torchrun's variables): this process's place in it.
  const World world = world_from_env();
  TrainConfig rank_config = config;
  if (world.distributed()) rank_config.device = rank_device(config.device, world);
  const TrainConfig& cfg = rank_config;
  // Every process reads the same global batches and trains on its rows of them.
  const int64_t global_batch = cfg.batch_size * world.size;
  // ---------------------------------------------------------------------------------------------------------
  // Set-up (what can be refused is refused before the run folder exists)
  RunSetup setup(cfg);
  const std::string& device_name = setup.device_name;
  const at::Device device = setup.device;
  const io::ModelConfig& mcfg = setup.model_config;
  const int64_t pad_id = setup.pad_id;
  const bool resuming = !cfg.resume.empty();
  std::unique_ptr<ProcessGroup> group;
  if (world.distributed()) group = std::make_unique<ProcessGroup>(world, device, kGroupTimeout);
  // Rank 0 owns the run folder; the others read it (RunFolder::follow) and write nothing; they wait here for its path.
  RunFolder run = !world.main()   ? RunFolder::follow(group->share_from_main("run", ""))
                  : resuming      ? RunFolder::open(cfg.resume)
                                  : RunFolder::create(cfg.out, cfg.name.empty() ? fs::path(cfg.model).filename().string() : cfg.name);
  // URLs' credentials are never stored; a resume asks for them again (cli/train.cpp).
  if (!resuming) run.write_text("config.yaml", redact_url_secrets(to_yaml(cfg)));
  // From here a Ctrl-C marks the run cancelled: during set-up at the next stage, while training after the step.
  SignalGuard signals;
  run.update_metadata({{"status", "running"},
                       {resuming ? "resumed_at" : "started_at", utc_timestamp()},
                       {"gemma_tune_version", GT_VERSION},
                       {"libtorch", torch_info().version},
                       {"device", device_name},
                       {"dtype", std::string(c10::toString(setup.dtype))},
                       {"model", cfg.model},
                       {"modality", cfg.modality},
                       // `runs list` tells a live run from one whose process died by these.
                       {"pid", static_cast<int64_t>(::getpid())},
                       {"host", io::this_host()},
                       {"processes", world.size},
                       {"error", nullptr}});
  // The others open the folder once it holds config.yaml and metadata.json; the launcher marks it failed if one dies.
  if (group && world.main()) {
    group->share_from_main("run", run.path());
    if (const std::string note = run_folder_note_file(); !note.empty()) std::ofstream(note) << run.path() << "\n";
  }
  if (group)
    std::cerr << "processes   " << world.size << " (" << group->backend() << "), this one rank " << world.rank << " on "
              << device_name << "; global batch " << global_batch << " = " << world.size << " x " << cfg.batch_size
              << "\n";
  if (setup.images && mcfg.family == io::Family::Gemma4)
    run.update_metadata({{"image_token_budget", setup.images->token_rule().budget}});
  std::cerr << "run folder  " << run.path() << (resuming ? " (resuming)" : "") << "\n";
  test_signal_at("set-up");
  std::unique_ptr<LiveRun> live;

  try {
    // --live: the page is served from here on; it shows the set-up as it happens.
    if (!cfg.live.empty() && world.main()) {
      live = std::make_unique<LiveRun>(cfg, run);
      json run_info = run.metadata();
      run_info["path"] = fs::absolute(run.path()).string();
      run_info["name"] = fs::path(run.path()).filename().string();
      live->publish({{"type", "meta"}, {"run", run_info}, {"config", live::config_json(cfg)}});
      live->status("running", 0);
    }
    // A remote dataset is streamed: its rows are read as training goes, never all at once.
    const bool streamed = io::is_remote_url(cfg.data);
    // A local dataset is read again on resume, so its skipped rows are recorded again; a stream's are not.
    if (resuming && !streamed && world.main()) remove_tree(run.file("skipped.jsonl"));
    if (world.main()) setup.dataset_options.skipped_log = run.file("skipped.jsonl");

    data::DatasetFiles files;
    if (streamed && cfg.group_by_length)
      std::cerr << "note        --group-by-length applies to local datasets; a streamed one is batched as it arrives\n";
    if (cfg.pack && streamed)
      fail_input(cfg.data, ": --pack is for local datasets; a streamed one is batched as it arrives");
    if (streamed)
      files.train = cfg.data;
    else if (fs::is_directory(cfg.data))
      files = data::find_dataset_files(cfg.data);
    else
      files.train = cfg.data;
    if (!cfg.val_data.empty()) files.validation = cfg.val_data;
    data::TextDataset train;
    if (!streamed) {
      train = setup.load_dataset(files.train);
      std::cerr << "train       " << train.summary.describe() << "\n";
    } else if (cfg.max_steps <= 0) {
      fail_input(cfg.data, ": a streamed dataset's size is not known before it has been read, so --epochs cannot set "
                 "the schedule; give --max-steps N (optimizer steps)");
    }
    data::TextDataset val;
    if (!files.validation.empty()) {
      val = setup.load_dataset(files.validation);
      std::cerr << "validation  " << val.summary.describe() << "\n";
    }
    stop_if_interrupted("after reading the data");
    {
      // Rows, examples and skips by reason of each split, for `runs show --live` and the page.
      json data_info = json::object();
      if (!streamed) data_info["train"] = live::summary_json(train.summary);
      else data_info["train"] = {{"text", cat("streamed from ", cfg.data)}};
      if (!files.validation.empty()) data_info["validation"] = live::summary_json(val.summary);
      run.update_metadata({{"data_summary", data_info}});
      if (live) live->publish({{"type", "meta"}, {"data", data_info}});
    }

    models::LoadedModel lm = setup.load_model();
    stop_if_interrupted("after loading the model");
    models::Model& whole = *lm.model;
    models::TextModel& model = whole.text();
    torch::manual_seed(static_cast<uint64_t>(cfg.seed));
    models::AdapterConfig acfg;
    acfg.r = cfg.lora_r;
    acfg.lora_alpha = cfg.lora_alpha;
    acfg.lora_dropout = cfg.lora_dropout;
    acfg.target_modules = models::LoraTargets::parse(cfg.lora_targets);
    if (mcfg.multimodal) acfg.target_modules = acfg.target_modules.scoped_to(mcfg.text_prefix);
    acfg.base_model_name_or_path = fs::absolute(cfg.model).string();
    acfg.modality = cfg.modality;
    if (setup.images && mcfg.family == io::Family::Gemma4)
      acfg.image_token_budget = setup.images->token_rule().budget;  // eval and inference must use it too
    const auto adapted = models::apply_lora(model.module(), mcfg.text_prefix, acfg.target_modules,
                                            {acfg.r, acfg.lora_alpha, acfg.lora_dropout,
                                             models::parse_lora_precision(cfg.lora_precision)});
    auto named = models::lora_parameters(model.module(), mcfg.text_prefix);
    int64_t trainable = 0, total = 0;
    for (auto& [n, t] : named) trainable += t.numel();
    for (const auto& p : model.module().parameters()) total += p.numel();
    for (const auto& m : model.module().modules())  // a quantized layer's weight is an empty tensor
      if (auto* lin = dynamic_cast<models::LoraLinearImpl*>(m.get()); lin && lin->quantized())
        total += lin->in_features() * lin->out_features();
    model.set_gradient_checkpointing(cfg.gradient_checkpointing);
    model.module().train();
    std::cerr << "model       " << io::family_name(mcfg.family) << ", " << mcfg.text.num_hidden_layers << " layers, "
              << format_bytes(static_cast<double>(lm.bytes)) << " of weights on " << device_name << " as "
              << c10::toString(setup.dtype) << "; LoRA r=" << cfg.lora_r << " on " << adapted.size() << " layers ("
              << trainable << " trainable of " << total << " parameters)"
              << (whole.has_audio() || whole.has_vision()
                      ? cat("; frozen ", whole.has_audio() && whole.has_vision() ? "audio and vision towers"
                                         : whole.has_audio()                     ? "audio tower"
                                                                                 : "vision tower",
                            " of ", whole.tower_parameters(), " parameters")
                      : std::string())
              << "\n";
    if (lm.quantized.layers > 0)
      std::cerr << "quantized   " << lm.quantized.layers << " decoder linears to " << cfg.quantize << ": "
                << format_bytes(static_cast<double>(lm.quantized.bytes_before)) << " -> "
                << format_bytes(static_cast<double>(lm.quantized.bytes_after))
                << (lm.quantized.kept > 0 ? cat(" (", lm.quantized.kept, " small ones left in full precision)")
                                          : std::string())
                << "\n";

    if (live) {
      live->publish({{"type", "meta"},
                     {"run", {{"family", io::family_name(mcfg.family)},
                              {"layers", mcfg.text.num_hidden_layers},
                              {"trainable_parameters", trainable},
                              {"parameters", total},
                              {"lora_layers", adapted.size()}}}});
      // The page looks inside the model with one fixed row: the first validation example, else the first training
      // one (a streamed dataset without a validation file has none to hold on to).
      const data::Example* row = !val.examples.empty() ? &val.examples[0] : !train.examples.empty() ? &train.examples[0] : nullptr;
      if (row && cfg.live_every > 0)
        live->set_probe(std::make_unique<LiveProbe>(*row, setup.tokenizer, setup.media_readers(), device,
                                                    mcfg.text.num_hidden_layers, cfg.live_layer));
      else if (cfg.live_every > 0)
        std::cerr << "live        no probe row: a streamed dataset needs --val-data for the attention and predictions\n";
    }
    AdamW opt(named, {cfg.lr, cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps, cfg.weight_decay});
    // Data parallel: the processes' gradients summed while backward runs.
    std::unique_ptr<GradientSync> sync;
    if (group) sync = std::make_unique<GradientSync>(*group, opt);
    TrainerState state;
    double last_loss = NAN;
    // An evaluation metrics.jsonl already holds at the resume step (made just before a kill) is not made again, so
    // no row is doubled.
    int64_t eval_recorded_step = -1;
    if (resuming) {
      auto ckpt = latest_checkpoint(run.path());
      if (!ckpt) fail_input(run.path(), ": no complete checkpoint to resume from (checkpoints/step-N/DONE)");
      state = load_checkpoint(*ckpt, model, opt, device);
      // The rows up to the checkpoint: the last training loss (reported even if no further step is trained, as when
      // the run had finished its schedule) and the evaluation recorded at this step, if any.
      for (const json& row : run.truncate_metrics_after(state.step)) {
        if (row.contains("loss") && row["loss"].is_number()) last_loss = row["loss"].get<double>();
        if (row.value("step", int64_t{-1}) == state.step && row.contains("eval_loss")) eval_recorded_step = state.step;
      }
      run.truncate_jsonl_after("probes.jsonl", state.step);
      std::cerr << "resumed     from " << *ckpt << " at step " << state.step << "\n";
    }
    // The other processes draw their own dropout masks (the adapter's initial weights are the same everywhere: same
    // seed); rank 0 goes on with the generator of a one-process run, or the checkpoint's.
    if (group && !world.main())
      torch::manual_seed(static_cast<uint64_t>(cfg.seed) + 7919 * static_cast<uint64_t>(world.rank) +
                         104729 * static_cast<uint64_t>(state.step));
    const data::BatchOptions bopts{global_batch, static_cast<uint64_t>(cfg.seed), true, false, pad_id, 1,
                                   cfg.group_by_length, cfg.pack ? cfg.max_seq_len : 0};
    TrainBatches batches = streamed ? TrainBatches(setup.open_stream(cfg.data, state.stream, global_batch), setup.cache())
                                    : TrainBatches(train.examples, bopts, state);
    const std::optional<int64_t> micro_per_epoch = batches.per_epoch();
    const int64_t total_micro = cfg.max_steps > 0 ? cfg.max_steps * cfg.grad_accum : cfg.epochs * *micro_per_epoch;
    const int64_t total_steps = cfg.max_steps > 0 ? cfg.max_steps : (total_micro + cfg.grad_accum - 1) / cfg.grad_accum;
    run.update_metadata({{"total_steps", total_steps}});
    if (live) live->publish({{"type", "meta"}, {"run", {{"total_steps", total_steps}}}});
    if (streamed) run.update_metadata({{"data_source", cfg.data}, {"streamed", true}});
    std::cerr << "schedule    " << total_steps << " steps of " << cfg.grad_accum << " x " << global_batch
              << " examples ("
              << (micro_per_epoch ? cat(*micro_per_epoch, " micro-batches per epoch") : std::string("streamed"))
              << "), lr " << cfg.lr << " " << cfg.lr_scheduler << "\n";
    int64_t micro_done = state.step * cfg.grad_accum;  // exact except after a short last step, which ends the run

    stop_if_interrupted("before the first step");
    const int64_t stop_at = stop_after_step();
    Progress bar("train", total_steps);
    // The GPU's busy share (NVML) on CUDA runs: whether it waits for the host (data, towers, logging).
    std::unique_ptr<GpuUsage> gpu;
    if (device_name.rfind("cuda", 0) == 0) {
      const size_t colon = device_name.find(':');
      gpu = std::make_unique<GpuUsage>(colon == std::string::npos ? 0 : std::stoi(device_name.substr(colon + 1)));
      if (!gpu->available()) std::cerr << "gpu usage   not shown: " << gpu->unavailable_reason() << "\n";
    }
    const auto gpu_percent = [&]() -> std::optional<int> { return gpu ? gpu->percent() : std::nullopt; };
    bar.start_at(state.step);
    reset_peak_memory(device_name);
    // Only rank 0 writes checkpoints and evaluates (the others wait for it at the next step's sum).
    auto checkpoint_now = [&] {
      require_finite_adapter(named, cat("checkpoint at step ", state.step));
      batches.save(state);
      if (world.main()) save_checkpoint(run.path(), cfg.keep_checkpoints, model, acfg, opt, state, device);
    };
    auto run_eval = [&](const char* when) {
      if (val.examples.empty() || !world.main()) return;
      EvalResult r = evaluate(whole, val.examples, cfg.batch_size, pad_id, device, "eval", setup.media_readers());
      const json row = {{"step", state.step}, {"eval_loss", r.loss}, {"eval_tokens", r.tokens}, {"when", when}};
      run.append_metric(row);
      test_signal_at(cat("eval-", state.step));
      if (live) live->metric(row);
      bar.message(cat("step ", state.step, ": eval loss ", r.loss, " over ", r.tokens, " tokens"));
      run.update_metadata({{"eval_loss", r.loss}});
    };
    int64_t bad_steps = 0;
    // --tower-cache: the training batches' soft tokens from disk where present (eval computes its own).
    const std::unique_ptr<CachedTowers> towers =
        open_tower_cache(cfg.tower_cache, cfg.model, setup.media_readers(), whole, device);

    const auto train_start = std::chrono::steady_clock::now();
    const auto train_seconds = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
    };
    const std::chrono::milliseconds delay = step_delay();

    // ---------------------------------------------------------------------------------------------------------
    // Training
    if (live) live->maybe_probe(whole, state.step, /*force=*/true);  // where the run starts from
    while (state.step < total_steps && micro_done < total_micro) {
      // Periodic work before the step. A run resumed here repeats an evaluation only if the kill came before its row
      // was written.
      const bool eval_due = state.step != eval_recorded_step;
      if (eval_due && state.step > 0 && cfg.eval_every > 0 && state.step % cfg.eval_every == 0) run_eval("periodic");
      if (eval_due && state.step > 0 && cfg.eval_every == 0 && micro_per_epoch && micro_done % *micro_per_epoch == 0)
        run_eval("epoch");

      synchronize_device(device_name);
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<data::Batch> micro;
      for (int64_t i = 0; i < cfg.grad_accum && micro_done < total_micro; ++i, ++micro_done) micro.push_back(batches.next());
      int64_t step_tokens = 0, real_tokens = 0;
      for (const auto& b : micro) {
        step_tokens += b.supervised_tokens;
        real_tokens += b.real_tokens;
      }
      double loss_sum = 0;
      for (size_t m = 0; m < micro.size(); ++m) {
        if (sync && m + 1 == micro.size()) sync->arm();  // the step's last backward pass sends the gradients
        // This process's rows of the global batch (all of it in a run of one process).
        const int64_t rows = micro[m].batch_size;
        const data::Batch mine = world.distributed()
                                     ? data::rows_of(micro[m], rows * world.rank / world.size,
                                                     rows * (world.rank + 1) / world.size)
                                     : data::Batch();
        const data::Batch& b = world.distributed() ? mine : micro[m];
        if (b.batch_size == 0) continue;  // a short last batch with fewer rows than processes
        BatchTensors t = towers ? to_tensors(b, device, setup.media_readers(), *towers)
                                : to_tensors(b, device, setup.media_readers());
        at::Tensor h = whole.forward(t.inputs, t.media);
        models::LossSum ls = models::causal_lm_loss(h, t.labels, model.lm_head_weight(), model.final_logit_softcapping());
        // Divided by the supervised tokens of the whole step, every process's rows included: the sum over
        // processes and micro-batches is the mean over the global batch.
        if (step_tokens > 0) (ls.sum / static_cast<double>(step_tokens)).backward();
        loss_sum += ls.sum.item<double>();
      }
      // The processes agree on the loss and on stopping (a Ctrl-C reaches them at different moments).
      bool stop_requested = g_interrupts.load() > 0;
      if (sync) {
        sync->finish();
        std::vector<at::Tensor> agreed{
            torch::tensor({loss_sum, stop_requested ? 1.0 : 0.0}, torch::dtype(torch::kFloat64)).to(device)};
        group->all_reduce_sum(agreed);
        const at::Tensor totals = agreed[0].cpu();
        loss_sum = totals[0].item<double>();
        stop_requested = totals[1].item<double>() > 0;
      }
      const double grad_norm = opt.clip_grad_norm(cfg.max_grad_norm);
      const double lr = scheduled_lr(cfg.lr_scheduler, cfg.lr, state.step, total_steps, cfg.warmup_steps);
      const double loss = step_tokens ? loss_sum / static_cast<double>(step_tokens) : NAN;
      const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
      if (finite) {
        opt.step(lr);
        bad_steps = 0;
        last_loss = loss;
      } else if (++bad_steps >= 5) {
        fail_input("the loss or gradient norm was not finite for 5 steps in a row (last loss ", loss, ", grad norm ",
                   grad_norm, "); try a lower --lr or --dtype float32");
      }
      opt.zero_grad();
      ++state.step;
      state.tokens_seen += step_tokens;
      synchronize_device(device_name);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

      // A skipped step is always recorded, with the rows it read, so a bad example can be found.
      if (state.step % cfg.log_every == 0 || state.step == total_steps || !finite) {
        json row = {{"step", state.step},
                    {"epoch", batches.epochs(micro_done)},
                    {"loss", finite ? json(loss) : json(nullptr)},
                    {"lr", lr},
                    {"grad_norm", std::isfinite(grad_norm) ? json(grad_norm) : json(nullptr)},
                    {"supervised_tokens", step_tokens},
                    {"tokens", real_tokens},
                    {"tokens_per_s", real_tokens / dt},
                    {"step_s", dt},
                    {"peak_memory_bytes", peak_memory_bytes(device_name)},
                    {"memory_bytes", current_memory_bytes(device_name)},
                    {"host_rss_bytes", host_resident_bytes()}};
        if (const std::optional<int> busy = gpu_percent()) row["gpu_util"] = *busy;
        if (!finite) {
          row["skipped_update"] = true;
          json sources = json::array();
          for (const auto& b : micro)
            for (int64_t i : b.example_indices)
              if (!streamed && i >= 0 && static_cast<size_t>(i) < train.examples.size())
                sources.push_back(train.examples[static_cast<size_t>(i)].source);
          row["skipped_rows"] = sources;
        }
        row.update(batches.stream_metrics());
        run.append_metric(row);
        if (live) live->metric(row);
      }
      if (live) live->maybe_probe(whole, state.step);
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      const std::optional<int> busy = gpu_percent();
      bar.update(state.step, cat("loss ", finite ? loss : NAN, "  lr ", lr, "  ", static_cast<int64_t>(real_tokens / dt),
                                 " tok/s  mem ", describe_memory(device_name),
                                 busy ? cat("  gpu ", *busy, "%") : std::string(), batches.progress()));

      test_signal_at(cat("step-", state.step));
      const bool interrupted = stop_requested || state.step == stop_at;
      if ((cfg.save_every > 0 && state.step % cfg.save_every == 0) || interrupted) checkpoint_now();
      if (interrupted) {
        bar.finish();
        run.update_metadata({{"status", "cancelled"}, {"finished_at", utc_timestamp()}, {"steps", state.step},
                             {"last_loss", last_loss}});
        if (live) live->status("cancelled", state.step);
        std::cerr << "interrupted at step " << state.step << "; checkpoint written. Continue with: gemma-tune train --resume "
                  << run.path() << "\n";
        return 130;
      }
    }
    bar.finish();
    if (live) {
      live->maybe_probe(whole, state.step, /*force=*/true);  // where it ended
      std::cerr << "live page   " << live->describe(train_seconds()) << "\n";
    }
    if (towers) std::cerr << "tower cache " << towers->cache.describe() << " in " << towers->cache.dir() << "\n";

    // ---------------------------------------------------------------------------------------------------------
    // End of training
    // A run that ends in a streak of non-finite steps has diverged: it is not a success, whatever the weights hold.
    if (bad_steps > 0)
      fail_input("training diverged: the loss or gradient norm was not finite for the last ", bad_steps,
                 " step(s) (see skipped_update in metrics.jsonl); the adapter was not saved; try a lower --lr or "
                 "--dtype float32, and resume from the last checkpoint");
    if (state.step != eval_recorded_step) run_eval("final");
    checkpoint_now();
    if (world.main()) save_final_adapter(run.path(), model, acfg);
    run.update_metadata({{"status", "completed"}, {"finished_at", utc_timestamp()}, {"steps", state.step},
                         {"last_loss", last_loss}, {"peak_memory_bytes", peak_memory_bytes(device_name)},
                         {"train_summary", streamed ? batches.describe() : train.summary.describe()}});
    if (world.main()) io::write_integrity_manifest(run.path());
    if (live) live->status("completed", state.step);
    std::cerr << "adapter     " << run.file("adapter") << " (PEFT format)\n";
    return 0;
  } catch (const CancelledDuringSetUp& c) {
    run.update_metadata({{"status", "cancelled"}, {"finished_at", utc_timestamp()}, {"error", nullptr}});
    if (live) live->status("cancelled", 0);
    std::cerr << "interrupted " << c.stage << "; nothing was trained in this session"
              << (resuming ? "; the run's checkpoints are as they were" : "") << "\n";
    return 130;
  } catch (const std::exception& e) {
    run.update_metadata({{"status", "failed"}, {"finished_at", utc_timestamp()}, {"error", e.what()}});
    if (live) live->status("failed", -1, e.what());
    throw;
  }
}

}  // namespace gt::train
