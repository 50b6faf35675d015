#!/usr/bin/env python3
"""Writes config.json fixtures of both families as transformers saves them, for tests/io/model_config_test.cpp.

Run on the GPU machine (transformers 5.17 installed):  python3 tools/make_config_fixtures.py tests/fixtures/config
Each fixture is built from the released E2B values (the keys of the Hub configs, old forms included), saved with
save_pretrained (which rewrites them into the 5.17 forms: rope_parameters, per_layer_config, dtype), and reloaded
with AutoConfig to make sure transformers itself accepts what it wrote. A summary of what transformers resolved
per layer is written beside them (expected.json), and the C++ test checks its own resolution against it.
"""
import json, os, sys, tempfile
import transformers
from transformers import AutoConfig, Gemma3nConfig, Gemma3nTextConfig, Gemma4Config, Gemma4TextConfig

PATTERN5 = ["sliding_attention"] * 4 + ["full_attention"]

GEMMA3N_E2B_TEXT = dict(
    hidden_size=2048, num_hidden_layers=30, intermediate_size=[8192] * 30, num_kv_shared_layers=10,
    rope_theta=1e6, rope_local_base_freq=1e4, rope_scaling=None, query_pre_attn_scalar=256,
    altup_lr_multiplier=1.0, layer_types=PATTERN5 * 6, activation_sparsity_pattern=[0.95] * 10 + [0.0] * 20)

GEMMA4_E2B_TEXT = dict(
    hidden_size=1536, num_hidden_layers=35, intermediate_size=6144, num_key_value_heads=1, global_head_dim=512,
    num_global_key_value_heads=None, num_kv_shared_layers=20, use_double_wide_mlp=True,
    final_logit_softcapping=30.0, layer_types=PATTERN5 * 7,
    rope_parameters={"full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1e6, "rope_type": "proportional"},
                     "sliding_attention": {"rope_theta": 1e4, "rope_type": "default"}})


def per_layer(text):
    """What transformers resolved for each layer (the C++ parser must agree)."""
    L = text.num_hidden_layers
    head_dims, kv_heads = [], []
    for i in range(L):
        view = text.per_layer_config[i] if getattr(text, "per_layer_config", None) is not None else text
        head_dims.append(view.head_dim)
        kv_heads.append(view.num_key_value_heads)
    first_shared = L - text.num_kv_shared_layers
    sources = []
    for i in range(L):
        src = i
        if text.num_kv_shared_layers and i >= first_shared:
            src = max(j for j in range(first_shared) if text.layer_types[j] == text.layer_types[i])
        sources.append(src)
    rope = {k: dict(v) for k, v in text.rope_parameters.items()}
    return dict(layer_types=list(text.layer_types), head_dim=head_dims, num_key_value_heads=kv_heads,
                kv_source_layer=sources, rope_parameters=rope)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    configs = {
        "gemma3n-e2b": Gemma3nConfig(text_config=GEMMA3N_E2B_TEXT, eos_token_id=[1, 106]),
        "gemma3n-e2b-text": Gemma3nTextConfig(**GEMMA3N_E2B_TEXT, architectures=["Gemma3nForCausalLM"]),
        "gemma4-e2b": Gemma4Config(text_config=GEMMA4_E2B_TEXT, vision_config={"use_clipped_linears": True},
                                   audio_config={}, eos_token_id=[1, 106]),
        "gemma4-e2b-text": Gemma4TextConfig(**GEMMA4_E2B_TEXT, architectures=["Gemma4ForCausalLM"]),
    }
    expected = {"transformers": transformers.__version__}
    for name, cfg in configs.items():
        with tempfile.TemporaryDirectory() as tmp:
            cfg.save_pretrained(tmp)
            text = open(os.path.join(tmp, "config.json")).read()
            back = AutoConfig.from_pretrained(tmp)
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            f.write(text)
        expected[name] = per_layer(back.get_text_config() if hasattr(back, "get_text_config") else back)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("wrote", sorted(os.listdir(out_dir)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/config")
