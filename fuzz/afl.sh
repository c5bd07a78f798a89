#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader with afl-fuzz + SharpFuzz (see fuzz/README.md).
#   fuzz/afl.sh SECONDS [TARGET...]     default: every target, SECONDS each (the issue asks for 1800)
#   AFL_JOBS=K fuzz/afl.sh ...           K targets at a time (default 1); each afl-fuzz is one busy process
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-1800}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(safetensors config llama2c plan npy onnx)
command -v afl-fuzz >/dev/null || sudo apt-get install -y afl++ || apt-get install -y afl++
command -v sharpfuzz >/dev/null || dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0
export PATH="$PATH:$HOME/.dotnet/tools"
bin=LlmPruneFast.Fuzz/bin/Release/net10.0
rm -f "$bin/LlmPruneFast.dll"                 # a previous run instrumented it: take a fresh copy
dotnet build LlmPruneFast.Fuzz -c Release -nologo -v q
rm -rf work && mkdir -p work/findings
# A real plan seeds the plan target: made by the CLI on stories260K when ../shared is there.
plan=""
if [ -f ../../shared/models/stories260K/stories260K.bin ]; then
  s=../../shared; m=work/model
  dotnet "$bin/llmprune.dll" import --from llama2c --model $s/models/stories260K/stories260K.bin --tokenizer $s/models/stories260K/tok512.model --out $m >/dev/null
  head -c 20000 $s/corpora/tinystories/valid-sample.txt > work/calib.txt
  dotnet "$bin/llmprune.dll" prune --model $m --calib work/calib.txt --method magnitude --ratio 0.2 --samples 128 --plan-only --out work/plan.json --quiet >/dev/null
  plan=work/plan.json
fi
dotnet "$bin/LlmPruneFast.Fuzz.dll" seeds work/seeds $plan
sharpfuzz "$bin/LlmPruneFast.dll"            # instrument the engine (in place, in the fuzz build output only)
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
# Parallel instances must not pin themselves to the same core.
jobs=${AFL_JOBS:-1}; [ "$jobs" -gt 1 ] && export AFL_NO_AFFINITY=1
running=0
for t in "${targets[@]}"; do
  [ -d "work/seeds/$t" ] || { echo "no seed for $t"; continue; }
  afl-fuzz -i "work/seeds/$t" -o "work/findings/$t" -t 10000 -m none -V "$seconds" -- dotnet "$bin/LlmPruneFast.Fuzz.dll" afl "$t" >"work/$t.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true
for t in "${targets[@]}"; do
  st="work/findings/$t/default/fuzzer_stats"
  if [ -f "$st" ]; then
    printf '%s: ' "$t"; grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|bitmap_cvg|edges_found|total_edges|saved_crashes|saved_hangs) ' "$st" | awk '{printf "%s=%s ", $1, $3}'; echo
  else
    echo "$t: afl-fuzz did not start (see fuzz/work/$t.log)"; tail -5 "work/$t.log"
  fi
done
