// The family dispatch of vision_tower.h: each family's tower and embedder joined under the checkpoint's names, and
// the initialisation rules of a fresh model, applied per module type as transformers' _init_weights (and timm's
// efficientnet_init_weights) dispatch on isinstance.
#include "models/vision_tower.h"

#include <cmath>
#include <limits>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "models/common/lora_linear.h"
#include "models/common/modules.h"
#include "models/gemma3n/multimodal_embedder.h"
#include "models/gemma3n/vision.h"
#include "models/gemma4/multimodal_embedder.h"
#include "models/gemma4/vision.h"

namespace gt::models {

namespace {

constexpr double kInitializerRange = 0.02;  // initializer_range of Gemma3nConfig and Gemma4Config

// Sets tensors in place and remembers which ones, so that a tensor no rule knows is reported, not left as
// uninitialised memory.
class Filler {
 public:
  explicit Filler(at::Generator& gen) : gen_(gen) {}
  void normal(const at::Tensor& t, double std) {
    if (!t.defined()) return;
    if (!t.is_meta()) t.normal_(0.0, std, gen_);
    done_.insert(t.unsafeGetTensorImpl());
  }
  void fill(const at::Tensor& t, double value) {
    if (!t.defined()) return;
    if (!t.is_meta()) t.fill_(value);
    done_.insert(t.unsafeGetTensorImpl());
  }
  bool done(const at::Tensor& t) const { return done_.count(t.unsafeGetTensorImpl()) > 0; }

 private:
  at::Generator& gen_;
  std::unordered_set<const c10::TensorImpl*> done_;
};

// transformers' PreTrainedModel._init_weights for the module types both embedders (and Gemma 4's tower) use.
void init_transformers_module(torch::nn::Module& m, Filler& f) {
  if (auto* linear = m.as<LoraLinearImpl>()) {
    f.normal(linear->weight, kInitializerRange);
    f.fill(linear->bias, 0.0);
  } else if (auto* embedding = m.as<EmbeddingImpl>()) {
    f.normal(embedding->weight, kInitializerRange);
  } else if (auto* norm = m.as<RMSNormImpl>()) {
    f.fill(norm->weight, 1.0);  // undefined (skipped) for a norm without scale
  }
}

// Gemma4PreTrainedModel._init_weights: the generic rules plus the Gemma 4 vision special cases.
void init_gemma4_module(torch::nn::Module& m, Filler& f) {
  init_transformers_module(m, f);
  const double inf = std::numeric_limits<double>::infinity();
  if (auto* clip = m.as<gemma4::ClippableLinearImpl>()) {
    f.fill(clip->input_min, -inf);
    f.fill(clip->input_max, inf);
    f.fill(clip->output_min, -inf);
    f.fill(clip->output_max, inf);
  } else if (auto* patches = m.as<gemma4::VisionPatchEmbedderImpl>()) {
    f.fill(patches->position_embedding_table, 1.0);
  } else if (auto* model = m.as<gemma4::VisionModelImpl>()) {
    f.fill(model->std_bias, 0.0);
    f.fill(model->std_scale, 1.0);
  }
}

// timm's _init_weight_goog for the MobileNet-V5 modules; transformers' rules for embed_vision.
void init_gemma3n_module(torch::nn::Module& m, Filler& f) {
  init_transformers_module(m, f);
  if (auto* conv = m.as<gemma3n::SameConv2dImpl>()) {
    const int64_t fan_out = conv->kernel * conv->kernel * conv->out_chs / conv->groups;
    f.normal(conv->weight, std::sqrt(2.0 / static_cast<double>(fan_out)));
    f.fill(conv->bias, 0.0);
  } else if (auto* norm = m.as<gemma3n::RmsNormAct2dImpl>()) {
    f.fill(norm->weight, 1.0);
  } else if (auto* scale = m.as<gemma3n::LayerScale2dImpl>()) {
    f.fill(scale->gamma, gemma3n::LayerScale2dImpl::kInitValue);
  }
}

}  // namespace

std::shared_ptr<torch::nn::Module> make_vision_tower_layout(const io::ModelConfig& cfg, at::ScalarType dtype,
                                                            at::Device device) {
  if (!cfg.has_vision_config()) return nullptr;
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  const int64_t text_hidden = cfg.text.hidden_size;
  auto tree = std::make_shared<torch::nn::Module>("VisionTowerLayout");
  switch (cfg.family) {
    case io::Family::Gemma4: {
      const gemma4::VisionConfig vc = gemma4::parse_vision_config(cfg.vision_config_json, cfg.path);
      tree->register_module("vision_tower", gemma4::VisionModel(vc, opts));
      // Gemma4MultimodalEmbedder(vision_config, text_config): the vision config has no output_proj_dims.
      tree->register_module("embed_vision",
                            gemma4::MultimodalEmbedder(vc.hidden_size, text_hidden, vc.rms_norm_eps, opts));
      break;
    }
    case io::Family::Gemma3n: {
      const gemma3n::VisionConfig vc = gemma3n::parse_vision_config(cfg.vision_config_json, cfg.path);
      tree->register_module("vision_tower", gemma3n::VisionTower(vc, gemma3n::vision_architecture(vc, cfg.path), opts));
      gemma3n::MultimodalEmbedderShape shape;
      shape.multimodal_hidden_size = vc.hidden_size;
      shape.text_hidden_size = text_hidden;
      shape.vocab_size = vc.vocab_size;
      shape.vocab_offset = vc.vocab_offset;
      shape.eps = vc.rms_norm_eps;
      tree->register_module("embed_vision", gemma3n::MultimodalEmbedder(shape, opts));
      break;
    }
  }
  return tree;
}

void init_vision_tower_random(torch::nn::Module& tree, const std::string& family, at::Generator& gen) {
  void (*rule)(torch::nn::Module&, Filler&) = nullptr;
  if (family == io::family_name(io::Family::Gemma4))
    rule = init_gemma4_module;
  else if (family == io::family_name(io::Family::Gemma3n))
    rule = init_gemma3n_module;
  else
    fail_input("vision tower init: family is \"", family, "\", expected gemma3n or gemma4");

  torch::NoGradGuard no_grad;
  Filler f(gen);
  rule(tree, f);  // the root itself, without shared_from_this (the tree may live on the stack)
  for (const auto& m : tree.modules(/*include_self=*/false)) rule(*m, f);

  std::vector<std::string> missed;
  for (const auto& p : tree.named_parameters(/*recurse=*/true))
    if (!f.done(p.value())) missed.push_back(p.key());
  for (const auto& b : tree.named_buffers(/*recurse=*/true))
    if (!f.done(b.value())) missed.push_back(b.key());
  if (!missed.empty()) {
    std::string list;
    for (size_t i = 0; i < missed.size() && i < 10; ++i) list += (i ? ", " : "") + missed[i];
    GT_CHECK(false, "no ", family, " init rule covers ", missed.size(), " tensor(s): ", list,
             missed.size() > 10 ? ", ..." : "");
  }
}

}  // namespace gt::models
