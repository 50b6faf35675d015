// What `train` and `eval` both set up from a run configuration, in one place and one order: device and dtype, the
// tokenizer and config.json of the model folder, the media readers the modality needs, the dataset options, the
// datasets, and the model with the towers of the modality (a text run reads no tower, an audio run no vision one).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <set>
#include <string>

#include "core/train_config.h"
#include "data/streaming_batches.h"
#include "data/text_dataset.h"
#include "io/gcp_credentials.h"
#include "io/model_config.h"
#include "io/object_cache.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/audio_inputs.h"
#include "train/batches_torch.h"
#include "train/image_inputs.h"

namespace gt::train {

class RunSetup {
 public:
  // Checks the modality and mode, resolves device and dtype, reads the tokenizer and config.json, and builds the
  // media readers (before any data: probing clips needs the extractor's settings). Throws gt::InputError naming
  // what is wrong. Rows skipped while loading datasets go to dataset_options.skipped_log when it is set.
  explicit RunSetup(const TrainConfig& cfg);
  ~RunSetup();
  RunSetup(const RunSetup&) = delete;
  RunSetup& operator=(const RunSetup&) = delete;

  // The examples of `file`, without the rows listed by --exclude. A remote file (gs://, https://; its shards) is
  // read as a stream, in order, into memory (validation and eval sets).
  data::TextDataset load_dataset(const std::string& file) const;
  // Training batches streamed from the remote dataset `spec` (gs://bucket/prefix-*.jsonl, https://...), continuing
  // from `state` (a checkpoint's TrainerState::stream; null: the start), in batches of `batch_size` rows.
  std::unique_ptr<data::StreamingBatches> open_stream(const std::string& spec, const nlohmann::json& state,
                                                      int64_t batch_size) const;
  // The model (decoder and the modality's towers), base weights frozen.
  models::LoadedModel load_model() const;

  const std::string device_name;
  const at::Device device;
  const at::ScalarType dtype;
  const tok::Tokenizer tokenizer;
  const io::ModelConfig model_config;
  const int64_t pad_id;
  std::unique_ptr<AudioInputs> audio;    // --modality audio, audiovisual
  std::unique_ptr<ImageInputs> images;   // --modality image, audiovisual
  data::TextDatasetOptions dataset_options;
  std::set<std::string> excluded_ids;  // --exclude: rows left out of every dataset this run loads

  MediaReaders media_readers() const { return {audio.get(), images.get()}; }
  // The disk cache of remote shards and media (--cache-dir), null without one.
  const io::ObjectCache* cache() const { return cache_.get(); }

 private:
  // How to read remote objects like `spec` (gs://, bq://, https://): endpoints and the run's credentials (none for
  // emulators and plain https); and readers with those options, one per thread.
  io::ObjectReaderOptions reader_options(const std::string& spec) const;
  data::ShardStream::ReaderFactory reader_factory(const std::string& spec) const;
  // The objects `spec` names; with --bq-query, the query's results (run now, or the job `state` saved).
  std::vector<io::ObjectRef> list_shards(const std::string& spec, const nlohmann::json& state = nullptr) const;

  const TrainConfig cfg_;
  // Remote data: Google credentials (found once, on first use; the token source refreshes through its own client)
  // and the example makers of the streamed datasets (they must outlive the streams).
  mutable std::unique_ptr<io::HttpClient> token_http_;
  mutable std::unique_ptr<io::AccessTokenSource> credentials_;
  mutable bool credentials_searched_ = false;
  mutable std::vector<std::unique_ptr<data::ExampleMaker>> makers_;
  std::shared_ptr<io::ObjectCache> cache_;  // shared by every reader of the run (shard workers, media fetches)
};

}  // namespace gt::train
