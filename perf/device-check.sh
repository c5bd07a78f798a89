#!/usr/bin/env bash
# The GPU device check (issue 10), in two halves:
#
#   perf/device-check.sh build   HERE, with the .NET SDK: publishes one self-contained single file for linux-x64
#                                (LlmPruneFast.Perf with the ONNX Runtime GPU build; its `cli` suite is llmprune) and
#                                copies the test data into .devcheck/ (git-ignored), checking it fits the 64 MiB
#                                that can be carried to the GPU machine.
#   perf/device-check.sh stage K THERE, once per staging folder, on the same warm machine just before `run`: copies the
#                                K-th .devcheck-stageK/ into /tmp/llmprune-stage/. The staging folders (made by
#                                `build`) carry what does not fit beside the runner: ONNX Runtime's CUDA provider
#                                library (284 MB, xz-compressed) and MiniLM, split into parts under 64 MiB each.
#   perf/device-check.sh run     THERE (CUDA driver, no .NET), in under 8 minutes: kernels-verify on CUDA, kernel
#                                throughput; prune --plan-only vs the cpu plans (compare_plans.py), first with the same
#                                activations (capture on the CPU, selection on CUDA), then with ONNX Runtime's CUDA
#                                provider in place (everything on CUDA); all-pairs MI at N = 11,008, S = 2,048;
#                                everything into $OUT/device-check.txt (.devcheck/out/ where $OUT is unset), the plans
#                                into $OUT/plans.tgz. On a machine without CUDA it runs the same steps and reports
#                                "no CUDA device" instead of crashing.
#
# The lead's calls on a task that is lent a GPU (after `perf/device-check.sh build` in the checkout it sends), one
# right after the other (the machine goes back after 30 s idle, and /tmp/llmprune-stage with it):
#   run(command="bash perf/device-check.sh stage 1", carry=[".devcheck-stage1"])   ... one call per staging folder
#   run(command="bash perf/device-check.sh run", carry=[".devcheck"], timeout_s=540)
# Without the staging calls `run` still runs, and reports the provider and MiniLM as not carried.
# See perf/RESULTS.md, "Device check".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DC=$ROOT/.devcheck
LIMIT=$((64 * 1024 * 1024))

build() {
  set -e
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
  local shared=${LLMPRUNE_SHARED:-$ROOT/../shared}
  rm -rf "$DC"
  mkdir -p "$DC/bin" "$DC/data"
  # One file for both jobs: the perf suites (kernels-verify, kernels) and llmprune (`cli`), GPU build of ONNX Runtime
  # without its CUDA provider library (284 MB; see perf/LlmPruneFast.Perf/LlmPruneFast.Perf.csproj).
  dotnet publish perf/LlmPruneFast.Perf/LlmPruneFast.Perf.csproj -c Release -r linux-x64 --self-contained true -p:OrtGpu=true \
    -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
    -o "$DC/bin" -nologo -v q
  rm -f "$DC"/bin/*.pdb "$DC"/bin/*.dbg "$DC"/bin/llmprune.runtimeconfig.json
  if [ -f "$shared/models/stories260K/stories260K.bin" ]; then
    cp "$shared/models/stories260K/stories260K.bin" "$shared/models/stories260K/tok512.model" "$DC/data/"
    head -c 300000 "$shared/corpora/tinystories/valid-sample.txt" > "$DC/data/calib.txt"
  else
    echo "note: $shared/models/stories260K is absent: the run will have no prune step" >&2
  fi
  # What cannot travel beside the runner goes in staging parts, each with the tracked tree under 64 MiB: ONNX
  # Runtime's CUDA provider (xz, ~3 minutes here) and MiniLM, one tar cut into pieces, checked by sha256 there.
  local tree; tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  rm -rf "$ROOT"/.devcheck-stage*
  local stage; stage=$(mktemp -d)
  local provider; provider=$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/microsoft.ml.onnxruntime.gpu.linux" -path '*linux-x64/native/libonnxruntime_providers_cuda.so' 2>/dev/null | sort | tail -1)
  local cached=$ROOT/.cache/devcheck/libonnxruntime_providers_cuda.so.xz
  if [ -n "$provider" ]; then
    if [ ! -f "$cached" ] || [ "$cached" -ot "$provider" ]; then
      mkdir -p "$(dirname "$cached")"
      echo "compressing $provider (xz -9, a few minutes)"
      xz -9 -T0 -c "$provider" > "$cached.tmp" && mv "$cached.tmp" "$cached"
    fi
    cp "$cached" "$stage/"
  else
    echo "note: the GPU package's libonnxruntime_providers_cuda.so is not in the NuGet cache: not staged" >&2
  fi
  local minilm=$ROOT/.cache/models/all-MiniLM-L6-v2
  if [ -f "$minilm/model.onnx" ]; then
    cp -r "$minilm" "$stage/minilm"
    cp src/LlmPruneFast.Cli/Demo/encoder-calibration.txt "$stage/minilm-calib.txt"
  else
    echo "note: MiniLM is absent ($minilm; ./build.sh demo restores it): not staged" >&2
  fi
  if [ -n "$(ls -A "$stage")" ]; then
    local part=$((LIMIT - tree - 1024 * 1024))
    (cd "$stage" && tar -cf - -- * | split -b "$part" -d -a 2 - "$DC/stage.part.")
    local k=0
    : > "$DC/stage.sha256"
    for f in "$DC"/stage.part.*; do
      k=$((k + 1))
      mkdir -p "$ROOT/.devcheck-stage$k"
      (cd "$DC" && sha256sum "$(basename "$f")" >> stage.sha256)
      mv "$f" "$ROOT/.devcheck-stage$k/"
    done
    echo "staging: $k parts of at most $part bytes (.devcheck-stage1 .. .devcheck-stage$k): $(cd "$stage" && ls | tr '\n' ' ')"
  fi
  rm -rf "$stage"
  used=$(du -sb "$DC" | cut -f1)
  echo "device check payload:"
  ls -l "$DC/bin" "$DC/data" | sed 's/^/  /'
  echo "  .devcheck: $used bytes; tracked tree: $tree bytes; together $((used + tree)) of $LIMIT"
  if [ $((used + tree)) -ge $LIMIT ]; then echo "error: the payload does not fit the 64 MiB that can be carried" >&2; exit 1; fi
  local n; n=$(ls -d "$ROOT"/.devcheck-stage* 2>/dev/null | wc -l)
  for k in $(seq 1 "$n"); do echo "call $k: carry .devcheck-stage$k   command: bash perf/device-check.sh stage $k"; done
  echo "then:   carry .devcheck         command: bash perf/device-check.sh run"
}

# Copies staging folder K (carried) to /tmp/llmprune-stage, which lasts as long as the warm machine.
stage() {
  local k=${1:?usage: perf/device-check.sh stage K}
  mkdir -p /tmp/llmprune-stage
  cp "$ROOT/.devcheck-stage$k"/stage.part.* /tmp/llmprune-stage/ || { echo "error: .devcheck-stage$k is not here: carry it"; exit 2; }
  ls -l /tmp/llmprune-stage
}

# Puts the staged parts back together (when all are there and their sha256 match) into $1; prints what it found.
unstage() {
  local into=$1
  [ -s "$DC/stage.sha256" ] || { echo "nothing was staged by build"; return 1; }
  if ! (cd /tmp/llmprune-stage 2>/dev/null && sha256sum -c --quiet "$DC/stage.sha256"); then
    echo "staged parts missing or damaged in /tmp/llmprune-stage (run the 'stage K' calls on this warm machine first)"
    return 1
  fi
  mkdir -p "$into"
  (cd /tmp/llmprune-stage && cat $(cut -d' ' -f3 "$DC/stage.sha256")) | tar -xf - -C "$into" || return 1
  if [ -f "$into/libonnxruntime_providers_cuda.so.xz" ]; then
    python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
      "$into/libonnxruntime_providers_cuda.so.xz" "$into/libonnxruntime_providers_cuda.so" && rm "$into/libonnxruntime_providers_cuda.so.xz"
  fi
  echo "unstaged: $(ls "$into" | tr '\n' ' ')"
}

run() {
  local out=${OUT:-$DC/out}
  mkdir -p "$out"
  local R=$out/device-check.txt
  : > "$R"
  local P=$DC/bin/LlmPruneFast.Perf
  local W; W=$(mktemp -d)
  local started; started=$(date +%s)
  log() { printf '%s\n' "$*" | tee -a "$R"; }
  # step NAME SECONDS CMD...: runs with a time limit, output into the results file, records exit code and seconds.
  local -a summary=()
  step() {
    local name=$1 limit=$2; shift 2
    log ""; log "## $name"; log "\$ $*"
    local t0; t0=$(date +%s%N)
    timeout "$limit" "$@" > "$W/step.log" 2>&1
    local rc=$?
    cat "$W/step.log" >> "$R"; tail -n 40 "$W/step.log"
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    log "-> exit $rc in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s$([ $rc -eq 124 ] && echo " (stopped at its ${limit} s limit)")"
    LAST_RC=$rc
  }
  verdict() { summary+=("$1"); }

  log "# LlmPruneFast device check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cores"
  if [ ! -x "$P" ]; then log "error: $P is missing: run 'perf/device-check.sh build' first and carry .devcheck"; return 2; fi
  # The single file extracts its native libraries (libonnxruntime.so among them) here on first start; ONNX Runtime
  # loads its CUDA provider from the folder it was loaded from, so a staged provider is put there.
  export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$W/bundle
  local staged=$W/staged
  log "staging: $(unstage "$staged" 2>&1)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$R"
  else
    log "gpu: nvidia-smi not found: no CUDA driver here; every CUDA step below is expected to report it"
  fi

  # CUDA 13 libraries (cuBLAS, cuDNN 9, ...) ship with the image's Python packages (nvidia-*), not the driver: put
  # them on the loader path for ILGPU's cuBLAS and ONNX Runtime's CUDA provider.
  local libs=""
  for d in $(python3 -c 'import nvidia, os; print(" ".join(sorted({r for p in list(nvidia.__path__) for r, _, fs in os.walk(p) for f in fs if ".so" in f})))' 2>/dev/null); do
    libs="$libs:$d"
  done
  if [ -n "$libs" ]; then export LD_LIBRARY_PATH="${libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
  log ""; log "## CUDA libraries on the loader path"
  for lib in libcublasLt.so.13 libcublas.so.13 libcudnn.so.9 libcufft.so.12 libcurand.so.10 libcudart.so.13; do
    local found; found=$(echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | while read -r d; do [ -n "$d" ] && [ -e "$d/$lib" ] && echo "$d/$lib" && break; done)
    log "  $lib: ${found:-not found}"
  done
  log "  python onnxruntime: $(python3 -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers())' 2>&1 | tail -1)"

  step "kernels-verify: every CUDA kernel against its CPU reference" 150 "$P" kernels-verify --device cuda
  [ "$LAST_RC" -eq 0 ] && verdict "kernels-verify on CUDA: PASS" || verdict "kernels-verify on CUDA: FAIL or not run (exit $LAST_RC)"
  step "kernels: throughput (pair rates S = 1024/4096; all pairs N = 1024, 4096, 11008 at S = 2048; float64 Gram)" 210 "$P" kernels --device cuda --min-seconds 0.5
  verdict "kernels throughput: exit $LAST_RC (figures above)"

  local m=$W/stories260K
  if [ -f "$DC/data/stories260K.bin" ]; then
    step "import stories260K" 60 "$P" cli import --from llama2c --model "$DC/data/stories260K.bin" --tokenizer "$DC/data/tok512.model" --out "$m"
  fi
  local -a methods=("mi-conditional" "mi-weighted --estimator plugin" "mi-weighted --estimator copula" "mi-greedy --estimator plugin")
  # plan MODEL TAG DEVICE [METHOD FLAGS...]: a --plan-only prune into $W/TAG-DEVICE.json; then a verdict against
  # the cpu plan, with where each stage ran. MODEL: stories260K or minilm.
  plan() {
    local model=$1 tag=$2 device=$3; shift 3
    local -a args
    if [ "$model" = minilm ]; then args=(--model "$staged/minilm" --calib "$staged/minilm-calib.txt" --samples 1024)
    else args=(--model "$m" --calib "$DC/data/calib.txt" --samples 2048 --calib-seqs 64 --method "$@"); fi
    step "prune $model ${*:-(default method)} --device $device" 120 "$P" cli prune "${args[@]}" --ratio 0.3 --plan-only --quiet --json --out "$W/$tag-$device.json" --device "$device"
    [ "$device" = cpu ] && return
    local devices; devices=$(tail -1 "$W/step.log" | grep -o '"devices":{[^}]*}' || true)
    if [ "$LAST_RC" -ne 0 ]; then verdict "$model ${*:-(default method)} --device $device: exit $LAST_RC ($(grep -m1 '^error:' "$W/step.log"))"
    else verdict "$model ${*:-(default method)} --device $device vs cpu: $(python3 "$ROOT/perf/compare_plans.py" "$W/$tag-cpu.json" "$W/$tag-$device.json") (${devices:-devices ?})"; fi
  }

  # Phase 1: ONNX Runtime's CUDA provider is not in place yet, so --device auto captures on the CPU provider and runs
  # MI and the Gram matrices on CUDA: the plans then differ from the cpu plans only through the kernels.
  log ""; log "# phase 1: same activations (capture on the CPU), selection on CUDA"
  if [ -d "$m" ]; then
    for spec in "${methods[@]}"; do
      local tag; tag=$(echo "$spec" | tr ' ' '_' | tr -d '-')
      # shellcheck disable=SC2086
      plan stories260K "$tag" cpu $spec
      # shellcheck disable=SC2086
      plan stories260K "$tag" auto $spec
    done
  else
    verdict "stories260K: not carried, no prune step"
  fi
  if [ -d "$staged/minilm" ]; then
    plan minilm minilm cpu
    plan minilm minilm auto
  else
    verdict "MiniLM: not staged (the 'stage K' calls did not run on this machine): not checked"
  fi

  # Phase 2: the staged provider beside libonnxruntime.so (extracted by the first start above): everything on CUDA.
  log ""; log "# phase 2: ONNX Runtime's CUDA provider too"
  local ortdir; ortdir=$(dirname "$(find "$W/bundle" -name libonnxruntime.so | head -1)")
  if [ -f "$staged/libonnxruntime_providers_cuda.so" ] && [ -d "$ortdir" ]; then
    cp "$staged/libonnxruntime_providers_cuda.so" "$ortdir/" && log "ONNX Runtime CUDA provider (staged) placed beside $ortdir/libonnxruntime.so"
  else
    log "ONNX Runtime CUDA provider: not staged, so --device cuda on ONNX Runtime stages is expected to fail"
  fi
  # The CPU-build message would name the CPU-only package; this build's names what the provider could not load.
  step "ONNX Runtime CUDA provider (llmprune eval --device cuda)" 60 "$P" cli eval --model "$m" --text "$DC/data/calib.txt" --paragraphs 20 --json --device cuda
  if grep -q "error: --device cuda" "$W/step.log"; then verdict "ONNX Runtime CUDA provider: NOT usable here: $(grep -o 'not usable: .*' "$W/step.log" | head -1 | sed 's/^not usable: //')"
  elif [ "$LAST_RC" -eq 0 ]; then verdict "ONNX Runtime CUDA provider: runs (eval --device cuda: $(tail -1 "$W/step.log" | grep -o '"mean_nll":[^,]*'))"
  else verdict "ONNX Runtime CUDA provider: eval exit $LAST_RC (see the step)"; fi
  if [ -d "$m" ]; then
    step "eval on the CPU provider, for comparison" 60 "$P" cli eval --model "$m" --text "$DC/data/calib.txt" --paragraphs 20 --json --device cpu
    verdict "eval on the CPU provider: $(tail -1 "$W/step.log" | grep -o '"mean_nll":[^,]*') (the CUDA figure above should agree to ~1e-5)"
    for spec in "${methods[@]}"; do
      # shellcheck disable=SC2086
      plan stories260K "$(echo "$spec" | tr ' ' '_' | tr -d '-')" cuda $spec
    done
  fi
  [ -d "$staged/minilm" ] && plan minilm minilm cuda

  # All pairs at the size of a LLaMA-7B FFN layer, through the CLI (file read and device upload included).
  local z=$W/z-2048x11008.f32
  if python3 -c "import numpy as np; r = np.random.default_rng(0); z = r.standard_normal((2048, 11008), dtype=np.float32); z[:, 1::2] += 0.5 * z[:, 0::2]; z.tofile('$z')" 2>>"$R"; then
    for est in plugin copula; do
      step "all-pairs MI, N = 11,008, S = 2,048, $est, --device cuda" 150 "$P" cli mi --input "$z" --cols 11008 --all-pairs --estimator $est --device cuda --json
      local secs; secs=$(tail -1 "$W/step.log" | grep -o '"seconds":[0-9.]*' | cut -d: -f2)
      verdict "all-pairs MI N = 11008, S = 2048, $est on CUDA: $([ -n "$secs" ] && echo "$secs s (file read, upload and kernel compilation included)" || echo "exit $LAST_RC")"
    done
  else
    verdict "all-pairs MI N = 11008: numpy unavailable, matrix not generated"
  fi

  log ""; log "# summary ($(( $(date +%s) - started )) s in all)"
  for s in "${summary[@]}"; do log "- $s"; done
  (cd "$W" && tar -czf "$out/plans.tgz" -- *.json 2>/dev/null) && echo "plans: $out/plans.tgz"
  rm -rf "$W"
  echo "results: $R"
}

case "${1:-}" in
  build) build ;;
  stage) stage "${2:-}" ;;
  run) run ;;
  *) echo "usage: perf/device-check.sh build | stage K | run   (build here; stage and run on the GPU machine; see perf/RESULTS.md)" >&2; exit 2 ;;
esac
