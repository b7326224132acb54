#!/usr/bin/env bash
# The pre-registered study of docs/study.md: Release build, then `r2m-client study` (about 45 minutes
# on 2 cores). Outputs go to artifacts/study; an interrupted study continues when run again.
# Extra arguments go to `r2m-client study` (docs/client.md), e.g. --dry-run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
start=$(date +%s)
dotnet build clients/R2M.Client/R2M.Client.csproj -c Release -nologo -v q -clp:ErrorsOnly
dotnet clients/R2M.Client/bin/Release/net10.0/r2m-client.dll study \
  --server-exe src/R2M.Server/bin/Release/net10.0/r2m-server.dll "$@"
echo "study.sh: total $(( $(date +%s) - start )) s"
