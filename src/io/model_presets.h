// config.json of the published Gemma 3n / Gemma 4 E2B and E4B checkpoints (values as the
// Hub files hold them), and "tiny" configurations of the same structure for tests and the demo: every feature of
// the text decoder present (KV sharing, sliding and global layers, PLE, AltUp/LAuReL/sparsity or double-wide MLP
// and proportional RoPE) at a size that trains on a CPU in seconds. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "io/model_config.h"

namespace gt::io {

// family: gemma3n | gemma4; size: tiny | E2B | E4B. The multimodal form (model_type gemma3n / gemma4) with
// text_config, audio_config and vision_config. Throws gt::InputError for an unknown family or size.
nlohmann::json preset_config(const std::string& family, const std::string& size);

}  // namespace gt::io
