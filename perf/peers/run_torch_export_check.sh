#!/usr/bin/env bash
# Issue 8 part 5: the generic ONNX path on a decoder exported by PyTorch. Installs Debian's python3-torch when
# absent (tooling only; never part of the engine), exports stories260K from the llama2.c checkpoint in ../shared with
# torch.onnx.export, then runs the TorchExport tests: same plan as the native LLaMA path for flap, obs and
# mi-conditional, pruned logits within 1e-4. Prints one line per method with the measured gaps.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="${LLMPRUNE_SHARED:-$root/../shared}"
out="$root/.cache/torch-stories260K"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >/dev/null
fi
rm -rf "$out"
/usr/bin/python3 "$root/perf/peers/export_llama_onnx.py" "$shared/models/stories260K/stories260K.bin" \
  "$shared/models/stories260K/tok512.model" "$out"
cd "$root"
dotnet build tests/LlmPruneFast.Tests/LlmPruneFast.Tests.csproj -c Release -nologo -v q >/dev/null
LLMPRUNE_TORCH_EXPORT="$out" dotnet test tests/LlmPruneFast.Tests/LlmPruneFast.Tests.csproj -c Release --no-build -nologo \
  --filter "FullyQualifiedName~TorchExportTests" --logger "console;verbosity=detailed" 2>&1 \
  | grep -E "torch-export |Total tests|Passed:|Failed:|Failed |Error Message" -A1 | grep -v -e "^--$" -e "^$"
