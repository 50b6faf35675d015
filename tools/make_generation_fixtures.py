#!/usr/bin/env python3
"""Greedy-decoding parity fixtures for tests/infer/generation_parity_test.cpp: tiny random Gemma 3n and Gemma 4 text
models with a tiny tokenizer of the family's chat markers, and what transformers' generate() (greedy, KV cache)
produces for raw and chat prompts, with and without a PEFT LoRA adapter.

Run on the GPU machine (transformers 5.17, peft, torch 2.11, tokenizers), from the repository root:
    python3 tools/make_generation_fixtures.py --out tests/fixtures/generation
Everything runs on the CPU in float32 with attn_implementation="sdpa".

Per family, one folder <out>/<family>/:
  model/        save_pretrained output (config.json, generation_config.json, model.safetensors) + tokenizer.json
  adapter/      PEFT save_pretrained output (LoRA r4/alpha8 on the 7 projections, lora_B ~ N(0, 0.1^2))
  cases.json    per prompt: kind (raw | chat), text, system, prompt_ids (what the tokenizer gives for the rendered
                prompt), base_ids / adapter_ids (generated ids, the stop token excluded), *_stopped, *_min_margin
  meta.json     versions, settings, the weight draw that was kept and why, checks (batched vs one by one)
The model is the text fixtures' configuration (tools/make_text_fixtures.py: 7 layers, sliding window 8, KV-shared
layers) with the tokenizer's 311-id vocabulary. Random tied-embedding models tend to repeat their input token for
ever (the embedding outweighs the normalised layer outputs in the residual stream); to get varied outputs the
post-attention and post-feedforward norm weights are scaled by a gain, and draws are tried until
the cases together generate >= MIN_TOTAL_DISTINCT distinct ids (one case alone >= MIN_DISTINCT; a case may repeat a
token or stop early, which tests the stop handling) with a top-1/top-2 logit margin >= MIN_MARGIN at every step of
every case (so float32 noise between implementations cannot flip a choice).
"""
import argparse
import copy
import importlib.util
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_text_fixtures as tf  # noqa: E402  (configs, weight draw, save/load helpers)

import peft  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    "make_tokenizer", os.path.join(ROOT, "tests/fixtures/data/gemma4-tiny/make_tokenizer.py"))
make_tokenizer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_tokenizer)

MAX_NEW = 32
MIN_DISTINCT = 6
MIN_TOTAL_DISTINCT = 16
MIN_MARGIN = 2e-3
GAINS = (1.0, 3.0, 6.0, 10.0, 16.0)
SEEDS = 12
CASES = [
    dict(name="raw", kind="raw", text="hi there, the user is here.", system=""),
    dict(name="chat", kind="chat", text="hello model, tell me a story.", system=""),
    dict(name="chat_system", kind="chat", text="who are you?", system="be brief."),
    dict(name="chat_long", kind="chat", text="the quick brown fox jumps over the lazy dog, twice!", system=""),
]


def render(family, case):
    """The prompt string as gemma-tune's chat format renders it (data/chat_format.h), with the generation prompt."""
    if case["kind"] == "raw":
        return "<bos>" + case["text"]
    start, end = make_tokenizer.TURN_MARKERS[family]
    s = "<bos>"
    if case["system"] and family == "gemma4":
        s += f"{start}system\n{case['system']}{end}\n"
    user = case["text"] if not case["system"] or family == "gemma4" else f"{case['system']}\n\n{case['text']}"
    return s + f"{start}user\n{user}{end}\n{start}model\n"


def greedy(model, prompt_ids, stop_ids):
    """transformers' greedy generate for one prompt: (new ids without the stop token, stopped, min top-2 margin)."""
    ids = torch.tensor([prompt_ids])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW, do_sample=False,
                         eos_token_id=stop_ids, pad_token_id=0, output_scores=True, return_dict_in_generate=True,
                         top_k=None, top_p=None, temperature=None)
    new = out.sequences[0, len(prompt_ids):].tolist()
    margins = []
    for s in out.scores:
        top = torch.topk(s[0].float(), 2).values
        margins.append(float(top[0] - top[1]))
    stopped = bool(new) and new[-1] in stop_ids
    if stopped:
        new = new[:-1]
    return new, stopped, min(margins)


def batched(model, prompts, stop_ids):
    """The same prompts in one left-padded batch (rows stopped early are padded with pad id 0 by generate)."""
    n = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (n - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in prompts])
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW, do_sample=False,
                         eos_token_id=stop_ids, pad_token_id=0, top_k=None, top_p=None, temperature=None)
    rows = []
    for r in out[:, n:].tolist():
        cut = []
        for t in r:
            if t in stop_ids:
                break
            cut.append(t)
        rows.append(cut)
    return rows


def scale_outputs(model, gain):
    with torch.no_grad():
        for name, p in model.named_parameters():
            # The post-norms, not o_proj/down_proj: the norms after them would undo a scale there.
            if name.endswith(("post_attention_layernorm.weight", "post_feedforward_layernorm.weight")):
                p.mul_(gain)


def good(results):
    distinct = [len(set(ids)) for ids, _, _ in results]
    return (all(margin >= MIN_MARGIN for _, _, margin in results) and max(distinct) >= MIN_DISTINCT
            and sum(distinct) >= MIN_TOTAL_DISTINCT)


def make_family(out_root, family):
    fam = tf.FAMILIES[family]
    folder = os.path.join(out_root, family)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    tok_doc = make_tokenizer.tokenizer_doc(family)
    vocab = len(tok_doc["model"]["vocab"])
    text = copy.deepcopy(fam["text"])
    text.update(vocab_size=vocab, vocab_size_per_layer_input=vocab, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    cfg_cls = transformers.Gemma3nTextConfig if family == "gemma3n" else transformers.Gemma4TextConfig
    tmp_tok = os.path.join(folder, "tokenizer.json")
    make_tokenizer.write(tok_doc, tmp_tok)
    tok = tokenizers.Tokenizer.from_file(tmp_tok)
    end_of_turn = tok.token_to_id(make_tokenizer.TURN_MARKERS[family][1])
    stop_ids = [1, end_of_turn]
    prompts = []
    for c in CASES:
        rendered = render(family, c)
        prompts.append(tok.encode(rendered, add_special_tokens=False).ids)

    tries = []
    chosen = None
    for gain in GAINS:
        for k in range(SEEDS):
            seed = tf.SEED + 7919 * k
            torch.manual_seed(seed)
            model = fam["causal_cls"](cfg_cls(**copy.deepcopy(text)))
            tf.randomize(model, seed)
            scale_outputs(model, gain)
            model.eval()
            with torch.no_grad():
                base = [greedy(model, p, stop_ids) for p in prompts]
            tries.append(dict(gain=gain, seed=seed, lengths=[len(b[0]) for b in base],
                              distinct=[len(set(b[0])) for b in base], min_margin=min(b[2] for b in base)))
            if not good(base):
                continue
            # The adapter must give varied, decisive outputs too.
            torch.manual_seed(tf.SEED + 1)
            pm = get_peft_model(model, LoraConfig(target_modules=tf.LORA_TARGETS, **tf.LORA))
            g = torch.Generator().manual_seed(tf.SEED + 2)
            with torch.no_grad():
                for n, p in pm.named_parameters():
                    if "lora_B" in n:
                        p.copy_(torch.empty(p.shape).normal_(0.0, tf.LORA_B_STD, generator=g))
            pm.eval()
            with torch.no_grad():
                adapted = [greedy(pm, p, stop_ids) for p in prompts]
            tries[-1]["adapter_min_margin"] = min(a[2] for a in adapted)
            if good(adapted) and any(a[0] != b[0] for a, b in zip(adapted, base)):
                chosen = (gain, seed, model, pm, base, adapted)
                break
            model = pm.unload()  # back to the bare model for the next try
        if chosen:
            break
    if not chosen:
        raise SystemExit(f"{family}: no weight draw met the conditions; tries: {json.dumps(tries)}")
    gain, seed, model, pm, base, adapted = chosen
    tf.log(f"{family}: gain {gain}, seed {seed}: lengths {[len(b[0]) for b in base]}, "
           f"margins base {min(b[2] for b in base):.4g} adapter {min(a[2] for a in adapted):.4g}")

    # Saved and loaded back: the expected ids come from the loaded models.
    adapter_dir = os.path.join(folder, "adapter")
    pm.save_pretrained(adapter_dir)
    readme = os.path.join(adapter_dir, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    bare = pm.unload()
    model_dir = os.path.join(folder, "model")
    tf.save_model(bare, model_dir)
    shutil.move(tmp_tok, os.path.join(model_dir, "tokenizer.json"))
    loaded, load_info = tf.load_model(fam["causal_cls"], model_dir)
    with torch.no_grad():
        base2 = [greedy(loaded, p, stop_ids) for p in prompts]
        batch_base = batched(loaded, prompts, stop_ids)
    lp = PeftModel.from_pretrained(loaded, adapter_dir)
    lp.eval()
    with torch.no_grad():
        adapted2 = [greedy(lp, p, stop_ids) for p in prompts]
        batch_adapted = batched(lp, prompts, stop_ids)
    assert [b[0] for b in base2] == [b[0] for b in base], "reloaded model generates differently"
    assert [a[0] for a in adapted2] == [a[0] for a in adapted], "reloaded adapter generates differently"

    cases = []
    for c, p, b, a in zip(CASES, prompts, base2, adapted2):
        cases.append(dict(name=c["name"], kind=c["kind"], text=c["text"], system=c["system"],
                          rendered=render(family, c), prompt_ids=p,
                          base_ids=b[0], base_stopped=b[1], base_min_margin=b[2],
                          adapter_ids=a[0], adapter_stopped=a[1], adapter_min_margin=a[2]))
    tf.write_json(os.path.join(folder, "cases.json"), dict(stop_ids=stop_ids, max_new_tokens=MAX_NEW, cases=cases))
    meta = dict(
        versions=tf.versions(), command=" ".join(sys.argv), family=family, dtype="float32", device="cpu",
        attn_implementation=tf.ATTN, text_config=text, weight_draw=dict(gain=gain, seed=seed, rule=(
            "tools/make_text_fixtures.py randomize(), then post_attention_layernorm and post_feedforward_layernorm "
            "weights x gain")),
        tries=tries, load_info=load_info, lora=dict(tf.LORA, targets=tf.LORA_TARGETS, lora_B_std=tf.LORA_B_STD),
        generate=dict(max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=stop_ids, pad_token_id=0,
                      cache="transformers default (DynamicCache)"),
        checks=dict(
            batched_left_padded_equals_one_by_one_base=batch_base == [b[0] for b in base2],
            batched_left_padded_equals_one_by_one_adapter=batch_adapted == [a[0] for a in adapted2],
            adapter_changes_output=[a[0] != b[0] for a, b in zip(adapted2, base2)]))
    tf.write_json(os.path.join(folder, "meta.json"), meta)
    tf.log(f"{family}: checks {meta['checks']}; {tf.folder_size(folder)} bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/generation")
    ap.add_argument("--family", nargs="*", default=["gemma3n", "gemma4"])
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    failed = []
    for family in a.family:
        try:
            make_family(a.out, family)
        except SystemExit as e:  # one family's failure must not cost the other its fixtures
            print(e, file=sys.stderr)
            failed.append(family)
    if failed:
        raise SystemExit(f"no fixtures for {failed}")


if __name__ == "__main__":
    main()
