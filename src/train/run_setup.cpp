#include "train/run_setup.h"

#include <iostream>

#include "core/device.h"
#include "core/error.h"
#include "core/strings.h"
#include "io/remote_media.h"
#include "train/batches_torch.h"

namespace gt::train {

namespace {

const TrainConfig& checked(const TrainConfig& cfg) {
  validate(cfg);
  const std::string& m = cfg.modality;
  auto modes = [&](std::initializer_list<const char*> allowed, const char* what) {
    for (const char* a : allowed)
      if (cfg.mode == a) return;
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    fail_input("--modality ", m, " trains ", what, ": --mode ", list, ", not ", cfg.mode);
  };
  if (m == "text") modes({"instruction", "completion"}, "conversations or plain text");
  if (m == "audio") modes({"instruction"}, "transcriptions and audio conversations");
  if (m == "image") modes({"instruction", "caption", "vqa"}, "captions, visual questions and image conversations");
  if (m == "audiovisual") modes({"instruction", "caption"}, "captions of an image and a clip");
  return cfg;
}

// What relative media paths in the rows of a remote dataset resolve against: the shards' folder (gs://, https://);
// for BigQuery, which has no folder, the working directory.
std::string media_base_of(const std::string& spec) {
  if (spec.rfind("bq://", 0) == 0) return {};
  return spec.substr(0, spec.find_last_of('/') + 1);
}

}  // namespace

RunSetup::RunSetup(const TrainConfig& cfg)
    : device_name(resolve_device(checked(cfg).device)),
      device(device_name),
      dtype(resolve_dtype(cfg.dtype, device_name)),
      tokenizer(tok::Tokenizer::from_model_dir(cfg.model)),
      model_config(io::load_model_config(cfg.model)),
      pad_id(tokenizer.require_id("<pad>")),
      cfg_(cfg) {
  if (!cfg.exclude.empty()) excluded_ids = data::read_excluded_ids(cfg.exclude);
  if (!cfg.cache_dir.empty()) {
    cache_ = std::make_shared<io::ObjectCache>(cfg.cache_dir, io::parse_byte_size(cfg.cache_size, "--cache-size"));
    std::cerr << "disk cache  " << cache_->dir() << ": " << format_bytes(static_cast<double>(cache_->stats().bytes_held))
              << " held, at most " << format_bytes(static_cast<double>(cache_->max_bytes())) << "\n";
  }
  // gs:// images and clips in rows are fetched with the run's credentials, looked for on the first such fetch; the
  // fetch-ahead pool has as many threads as the shard reader.
  io::set_remote_media_options([this] { return reader_options("gs://"); },
                               {.prefetch_workers = static_cast<int>(cfg.stream_workers)});
  data::TextDatasetOptions& o = dataset_options;
  o.mode = cfg.mode == "completion" ? data::TextMode::Completion : data::TextMode::Instruction;  // caption, vqa: rows
  o.max_seq_len = cfg.max_seq_len;
  o.prompt_column = cfg.prompt_column;
  o.response_column = cfg.response_column;
  o.text_column = cfg.text_column;
  o.system_prompt = cfg.system_prompt;
  if (cfg.modality == "audio" || cfg.modality == "audiovisual") {
    audio = std::make_unique<AudioInputs>(cfg.model, model_config, cfg.max_duration);
    o.audio = audio->row_options(cfg.audio_column, cfg.audio_prompt);
  }
  if (cfg.modality == "image" || cfg.modality == "audiovisual") {
    images = std::make_unique<ImageInputs>(cfg.model, model_config, cfg.image_token_budget);
    o.image = images->row_options(cfg);
    o.image_rows = cfg.mode == "vqa" ? data::ImageRowKind::Vqa
                   : cfg.mode == "caption" ? data::ImageRowKind::Caption
                                           : data::ImageRowKind::Auto;
    o.audiovisual_prompt = cfg.audiovisual_prompt;
  }
}

io::ObjectReaderOptions RunSetup::reader_options(const std::string& spec) const {
  io::ObjectReaderOptions o;
  o.cache = cache_;
  // Endpoints named on the command line are real services: credentials are sent to them.
  if (!cfg_.gcs_endpoint.empty()) {
    o.gcs_endpoint = io::gcs_endpoint_from(cfg_.gcs_endpoint, "--gcs-endpoint");
    o.gcs_endpoint.emulator = false;
  }
  if (!cfg_.bq_endpoint.empty()) {
    o.bq_endpoint = io::bigquery_endpoint_from(cfg_.bq_endpoint, "--bq-endpoint");
    o.bq_endpoint.emulator = false;
  }
  // Google's clients send no credentials to an emulator; plain https data needs none.
  const bool gs = spec.rfind("gs://", 0) == 0, bq = spec.rfind("bq://", 0) == 0;
  const bool emulator = (!gs && !bq) || (gs && o.gcs_endpoint.emulator) || (bq && o.bq_endpoint.emulator);
  if (!emulator && !credentials_searched_) {
    credentials_searched_ = true;
    token_http_ = std::make_unique<io::HttpClient>();
    credentials_ = io::find_credentials(*token_http_, {.access_token = cfg_.access_token});
    std::cerr << "credentials " << (credentials_ ? credentials_->describe() : "none found: anonymous access") << "\n";
  }
  if (!emulator && credentials_) {
    io::AccessTokenSource* source = credentials_.get();
    o.access_token = [source] { return source->token(); };
    o.token_refused = [source](const std::string& token) { source->invalidate(token); };
    o.user_project = credentials_->quota_project();
  }
  return o;
}

data::ShardStream::ReaderFactory RunSetup::reader_factory(const std::string& spec) const {
  return [o = reader_options(spec)] { return std::make_unique<io::ObjectReader>(o); };
}

std::vector<io::ObjectRef> RunSetup::list_shards(const std::string& spec, const nlohmann::json& state) const {
  std::vector<io::ObjectRef> shards;
  if (!cfg_.bq_query.empty() && spec == cfg_.data) {  // the query is the run's data, not its validation file
    if (spec.rfind("bq://", 0) != 0 || spec.find('.') != std::string::npos)
      fail_input("--bq-query runs in the project that --data names as bq://PROJECT; got --data ", spec);
    if (!state.is_null()) {
      shards = data::saved_shards(state);  // a resumed run reads the job it ran, never a new one
      std::cerr << "bigquery    resuming the results of " << shards.at(0).url << "\n";
    } else {
      shards.push_back(reader_factory(spec)()->run_query(cfg_.bq_query, spec.substr(5)));
      std::cerr << "bigquery    the query ran as " << shards[0].url << ": " << shards[0].size.value_or(0) << " rows\n";
    }
    return shards;
  }
  shards = reader_factory(spec)()->expand(spec);
  uint64_t bytes = 0;
  for (const io::ObjectRef& o : shards) bytes += o.size.value_or(0);
  std::cerr << "shards      " << redact_url_secrets(spec) << ": " << shards.size() << " object(s), " << format_bytes(static_cast<double>(bytes))
            << "\n";
  return shards;
}

std::unique_ptr<data::StreamingBatches> RunSetup::open_stream(const std::string& spec, const nlohmann::json& state,
                                                              int64_t batch_size) const {
  std::vector<io::ObjectRef> shards = list_shards(spec, state);
  const std::string base = media_base_of(spec);
  makers_.push_back(std::make_unique<data::ExampleMaker>(dataset_options, tokenizer, model_config.family, base, spec));
  data::StreamingOptions so;
  so.batch_size = batch_size;
  so.seed = static_cast<uint64_t>(cfg_.seed);
  so.shuffle_buffer = static_cast<size_t>(std::max<int64_t>(cfg_.shuffle_buffer, 0));
  so.pad_id = pad_id;
  so.stream.workers = static_cast<int>(cfg_.stream_workers);
  so.stream.prefetch_bytes = static_cast<size_t>(cfg_.prefetch_mb) << 20;
  so.skipped_log = dataset_options.skipped_log;
  so.exclude = excluded_ids;
  so.media_ahead = std::max<int64_t>(so.media_ahead, 2 * batch_size);  // the next two batches' media
  return std::make_unique<data::StreamingBatches>(std::move(shards), *makers_.back(), so, reader_factory(spec), state);
}

RunSetup::~RunSetup() { io::set_remote_media_options({}); }

data::TextDataset RunSetup::load_dataset(const std::string& file) const {
  data::TextDataset ds;
  if (io::is_remote_url(file)) {
    const data::ExampleMaker maker(dataset_options, tokenizer, model_config.family, media_base_of(file), file);
    ds = data::read_streamed_dataset(list_shards(file), maker, reader_factory(file), dataset_options.skipped_log, file);
  } else {
    ds = data::load_text_dataset(file, dataset_options, tokenizer, model_config.family);
  }
  data::exclude_rows(ds, excluded_ids);
  if (ds.examples.empty()) fail_input(file, ": every usable row is listed in --exclude ", cfg_.exclude);
  return ds;
}

models::LoadedModel RunSetup::load_model() const {
  return models::load_model(cfg_.model, {.audio = audio != nullptr, .vision = images != nullptr}, dtype, device,
                            models::parse_quant_mode(cfg_.quantize));
}

}  // namespace gt::train
