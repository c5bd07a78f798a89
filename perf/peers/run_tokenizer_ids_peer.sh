#!/usr/bin/env bash
# Regenerates tests/LlmPruneFast.Tests/Models/Data/tokenizer-ids.json: the ids Hugging Face tokenizers (npm tokenizers
# 0.23.2) gives for tokenizer-texts.json with the project's tiny tokenizer.json files and Meta's Llama 3 tokenizer.json,
# as published and with a Llama 3.1-style BOS template (see HfTokenizerJsonTests.WithBosTemplate, which makes the same
# edit). Run once at development time; needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
DATA=$ROOT/tests/LlmPruneFast.Tests/Models/Data
WORK=$ROOT/.cache/peers/tokenizers-node
./build.sh llama3-tokenizer >/dev/null
mkdir -p "$WORK"
[ -d "$WORK/node_modules/tokenizers" ] || (cd "$WORK" && npm install --silent --no-save tokenizers@0.23.2 >/dev/null)
LLAMA3=$ROOT/.cache/tokenizers/llama3/tokenizer.json
python3 - "$LLAMA3" "$WORK/llama3-bos.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding='utf-8'))
t['post_processor'] = {"type": "Sequence", "processors": [t['post_processor'], {"type": "TemplateProcessing",
  "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
  "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
           {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
  "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]}}}]}
json.dump(t, open(sys.argv[2], 'w', encoding='utf-8'), ensure_ascii=False)
PY
NODE_PATH=$WORK/node_modules node "$ROOT/perf/peers/tokenizer_ids_peer.js" "$DATA/tokenizer-texts.json" "$DATA/tokenizer-ids.json" \
  "tiny=$DATA/tiny-tokenizer.json" "tiny-llama3=$DATA/tiny-llama3-tokenizer.json" "llama3=$LLAMA3" "llama3-bos=$WORK/llama3-bos.json"
echo "wrote $DATA/tokenizer-ids.json"
