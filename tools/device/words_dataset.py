#!/usr/bin/env python3
"""A completion dataset of random common words for the GPU benchmarks of the real `train` command:

    python3 tools/device/words_dataset.py OUT_DIR [ROWS] [WORDS_PER_ROW]

writes OUT_DIR/train.jsonl ({"text": ...} rows; 1400 words pass 1024 tokens of the Gemma tokenizer)."""
import json
import os
import random
import sys

WORDS = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue side "
         "kind head house service friend father power hour game line end member law car city community name").split()


def main():
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    words = int(sys.argv[3]) if len(sys.argv) > 3 else 1400
    random.seed(0)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "train.jsonl"), "w") as f:
        for _ in range(rows):
            f.write(json.dumps({"text": " ".join(random.choice(WORDS) for _ in range(words))}) + "\n")


if __name__ == "__main__":
    main()
