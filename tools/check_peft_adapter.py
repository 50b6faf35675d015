#!/usr/bin/env python3
"""Checks, on the GPU machine, that Hugging Face PEFT loads an adapter trained by gemma-tune and computes the same
loss as `gemma-tune eval --adapter` on the same token ids.

  python3 tools/check_peft_adapter.py write-rows MODEL_DIR ROWS.jsonl      # pre-tokenized rows for both sides
  python3 tools/check_peft_adapter.py loss MODEL_DIR ADAPTER_DIR ROWS.jsonl  # PEFT's loss, one JSON line

Rows are {"input_ids": [...], "labels": [...]} (labels = ids: every next token is scored), made with the
checkpoint's tokenizer.json through the `tokenizers` library, so both sides see identical ids. The loss is the sum
of next-token cross-entropies over all rows divided by their count, in float32.
"""
import json, sys
import torch

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Fine-tuning Gemma on a laptop: receipts, screenshots, dialects.",
    "Bonjour, comment ça va ? Très bien, merci.",
    "def add(a, b):\n    return a + b\n",
]


def write_rows(model_dir, out):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    with open(out, "w") as f:
        for t in TEXTS:
            ids = [tok.token_to_id("<bos>")] + tok.encode(t, add_special_tokens=False).ids
            f.write(json.dumps({"input_ids": ids, "labels": ids}) + "\n")


def peft_loss(model_dir, adapter_dir, rows):
    from transformers import AutoConfig
    from peft import PeftModel
    cfg = AutoConfig.from_pretrained(model_dir)
    if cfg.model_type == "gemma4":
        from transformers import Gemma4ForConditionalGeneration as M
    elif cfg.model_type == "gemma3n":
        from transformers import Gemma3nForConditionalGeneration as M
    else:
        from transformers import AutoModelForCausalLM as M
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    # A tiny Gemma 3n from init-random holds a small MobileNet-V5 (vision_config.gemma_tune_architecture) that timm
    # cannot rebuild: its vision tensors do not fit the 300M network transformers builds, and the text loss checked
    # here does not use them.
    vision = getattr(cfg, "vision_config", None)
    small_tower = vision is not None and getattr(vision, "gemma_tune_architecture", None) is not None
    base = M.from_pretrained(model_dir, dtype=torch.float32, ignore_mismatched_sizes=small_tower).to(dev).eval()
    model = PeftModel.from_pretrained(base, adapter_dir).to(dev).eval()
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    total, count = 0.0, 0
    with torch.no_grad():
        for line in open(rows):
            r = json.loads(line)
            ids = torch.tensor([r["input_ids"]], device=dev)
            logits = model(input_ids=ids).logits.float()
            total += torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()
            count += ids.shape[1] - 1
        with model.disable_adapter():
            base_total = 0.0
            for line in open(rows):
                ids = torch.tensor([json.loads(line)["input_ids"]], device=dev)
                logits = model(input_ids=ids).logits.float()
                base_total += torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()
    print(json.dumps({"peft_loss": total / count, "peft_base_loss": base_total / count, "tokens": count,
                      "lora_B_tensors": len(lora_b), "lora_B_nonzero": sum(int(p.abs().sum() > 0) for p in lora_b)}))


if __name__ == "__main__":
    if sys.argv[1] == "write-rows":
        write_rows(sys.argv[2], sys.argv[3])
    else:
        peft_loss(sys.argv[2], sys.argv[3], sys.argv[4])
