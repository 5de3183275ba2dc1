#!/usr/bin/env bash
# Build and deploy template.yaml to a real AWS account with the pinned SAM CLI.
#
# One-time: create the bearer-token parameter the API checks (comma-separated tokens; list old and
# new together while rotating). SecureString with the AWS managed key aws/ssm, which the function
# role can decrypt without extra KMS permissions:
#
#   aws ssm put-parameter --name /docsum/api-tokens --type SecureString \
#     --value "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
#
# Then (first time interactively, it saves samconfig.toml; later runs reuse it):
#
#   OLLAMA_HOST=http://10.0.1.5:11434 bash infra/deploy.sh            # guided first deploy
#   bash infra/deploy.sh                                              # reuse samconfig.toml
#
# Environment (defaults in brackets):
#   STACK_NAME                  [docsum]
#   AWS_REGION / AWS_PROFILE    the usual AWS CLI settings
#   OLLAMA_HOST                 required on the first deploy: URL of the Ollama server the
#                               summarize function can reach
#   OLLAMA_MODEL [gemma3:1b]  MAX_CONCURRENCY [2]  MAX_RECEIVE_COUNT [5]
#   API_TOKEN_PARAMETER [/docsum/api-tokens]  LOG_LEVEL [INFO]
#   SUMMARIZE_SUBNET_IDS, SUMMARIZE_SECURITY_GROUP_IDS  comma-separated; when the Ollama host is
#                               only reachable inside a VPC (the subnets need NAT or endpoints)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SAM=${SAM:-$ROOT/.tools/iac/bin/sam}
if ! "$SAM" --version >/dev/null 2>&1; then
  echo "SAM CLI not found at $SAM: run 'make tools' (or set SAM=...)" >&2
  exit 1
fi
# sam build (no container) runs pip with the function runtime's interpreter.
PYENV_312=${PYENV_ROOT:-$HOME/.pyenv}/versions/3.12.1/bin
[[ -d $PYENV_312 ]] && export PATH=$PYENV_312:$PATH
command -v python3.12 >/dev/null || { echo "python3.12 must be on PATH for sam build" >&2; exit 1; }

STACK_NAME=${STACK_NAME:-docsum}
API_TOKEN_PARAMETER=${API_TOKEN_PARAMETER:-/docsum/api-tokens}

if command -v aws >/dev/null 2>&1 \
   && ! aws ssm describe-parameters --parameter-filters "Key=Name,Values=$API_TOKEN_PARAMETER" \
        --query 'Parameters[0].Name' --output text 2>/dev/null | grep -q "$API_TOKEN_PARAMETER"
then
  echo "warning: SSM parameter $API_TOKEN_PARAMETER not found; every request will get 401" >&2
  echo "         create it first (see the top of this script)" >&2
fi

"$SAM" validate --lint --template-file template.yaml
# sam build, then bytecode for every module (Lambda cannot write .pyc: see infra/build.py).
"$ROOT/.venv/bin/python" -m infra.build

overrides=(
  "OllamaModel=${OLLAMA_MODEL:-gemma3:1b}"
  "MaxConcurrency=${MAX_CONCURRENCY:-2}"
  "MaxReceiveCount=${MAX_RECEIVE_COUNT:-5}"
  "ApiTokenParameterName=$API_TOKEN_PARAMETER"
  "LogLevel=${LOG_LEVEL:-INFO}"
)
[[ -n ${OLLAMA_HOST:-} ]] && overrides+=("OllamaHost=$OLLAMA_HOST")
# A private Ollama host: attach the summarize function to these subnets / security groups.
[[ -n ${SUMMARIZE_SUBNET_IDS:-} ]] && overrides+=("SummarizeSubnetIds=$SUMMARIZE_SUBNET_IDS")
[[ -n ${SUMMARIZE_SECURITY_GROUP_IDS:-} ]] && \
  overrides+=("SummarizeSecurityGroupIds=$SUMMARIZE_SECURITY_GROUP_IDS")

common=(
  --stack-name "$STACK_NAME"
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
  --parameter-overrides "${overrides[@]}"
)
if [[ -f samconfig.toml ]]; then
  "$SAM" deploy "${common[@]}"
else
  [[ -n ${OLLAMA_HOST:-} ]] || { echo "set OLLAMA_HOST for the first deploy" >&2; exit 1; }
  "$SAM" deploy --guided "${common[@]}"
fi

"$SAM" list stack-outputs --stack-name "$STACK_NAME" --output table
