#!/usr/bin/env bash
# Deploy template.yaml to an AWS account: check the parameters, build and push the model-host
# image (when the stack runs its own host), sam build (+ bytecode), sam deploy.
#
# One-time: create the bearer-token parameter the API checks (comma-separated `client:token`
# entries, or `client:sha256:<hex>` hashes; list old and new together while rotating).
# SecureString with the AWS managed key aws/ssm, which the function role can decrypt without
# extra KMS permissions:
#
#   aws ssm put-parameter --name /docsum/api-tokens --type SecureString \
#     --value "alice:$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
#
# Then:
#
#   make deploy                                      # everything, the model host included
#   MODEL_HOST_IMAGE_TAG=v1.2.0 make deploy          # an image already in ECR: no build
#   EXISTING_OLLAMA_HOST=https://ollama.example.com make deploy          # your host (TLS)
#   EXISTING_OLLAMA_HOST_IN_VPC=http://10.0.1.5:11434 SUMMARIZE_SUBNET_IDS=subnet-a,subnet-b \
#     SUMMARIZE_SECURITY_GROUP_IDS=sg-1 make deploy                       # your private host
#
# The environment is the configuration: every run passes all of it (a parameter not given
# falls back to the template's default, not to the previous deploy's value).
#
# Environment (template parameter; defaults in brackets):
#   STACK_NAME [docsum]   AWS_REGION / AWS_PROFILE: the usual AWS CLI settings
#   EXISTING_OLLAMA_HOST (OllamaHost), EXISTING_OLLAMA_HOST_IN_VPC (OllamaHostInVpc): your own
#                             host; neither: the stack runs the model host. (Not OLLAMA_HOST:
#                             that is the ollama client's own setting, often set for local use.)
#   SUMMARIZE_SUBNET_IDS, SUMMARIZE_SECURITY_GROUP_IDS, VPC_ID: existing network (see docs/deploying.md)
#   MODEL_HOST_IMAGE_REPOSITORY [docsum-ollama]  MODEL_HOST_IMAGE_TAG [built: <git sha>-<time>]
#   MODEL_HOST_INSTANCE_TYPE [c7i.xlarge]  MODEL_HOST_GPU_COUNT [0]  MODEL_HOST_MIN_COUNT [1]
#   MODEL_HOST_MAX_COUNT [1]  OLLAMA_NUM_PARALLEL [2]  OLLAMA_KEEP_ALIVE [-1]
#   OLLAMA_MODEL [gemma3:1b]  MAX_CONCURRENCY [2] (your own host)  MAX_RECEIVE_COUNT [30]
#   RETRY_WINDOW_SECONDS [3600] (RetryWindowSeconds): how long a model-host outage is ridden out
#   API_TOKEN_PARAMETER [/docsum/api-tokens]  LOG_LEVEL [INFO]  ALARM_EMAIL [none]
#   RETENTION_DAYS [0: keep]  RATE_LIMIT_REQUESTS [600]  RATE_LIMIT_WINDOW_SECONDS [60]
#   WEBHOOK_SECRETS_PARAMETER [/docsum/webhook-secrets] (WebhookSecretsParameterName): the
#                             SecureString of client:whsec_… entries (docs/api.md, Completion push);
#                             without it webhook deliveries fail and end in their DLQ
#   PARAMETER_OVERRIDES   more NAME=value pairs, space-separated, passed as they are
#   DRY_RUN=1             print the commands that change something instead of running them
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SAM=${SAM:-$ROOT/.tools/iac/bin/sam}
PY=${PY:-$ROOT/.venv/bin/python}
DRY_RUN=${DRY_RUN:-0}

run() {  # a command that changes something: printed, and run unless DRY_RUN=1
  echo "+ $*" >&2
  [[ $DRY_RUN == 1 ]] || "$@"
}

STACK_NAME=${STACK_NAME:-docsum}
API_TOKEN_PARAMETER=${API_TOKEN_PARAMETER:-/docsum/api-tokens}
OLLAMA_MODEL=${OLLAMA_MODEL:-gemma3:1b}
REPOSITORY=${MODEL_HOST_IMAGE_REPOSITORY:-docsum-ollama}
OWN_MODEL_HOST=0
[[ -z ${EXISTING_OLLAMA_HOST:-} && -z ${EXISTING_OLLAMA_HOST_IN_VPC:-} ]] && OWN_MODEL_HOST=1

BUILD_IMAGE=0
if [[ $OWN_MODEL_HOST == 1 && -z ${MODEL_HOST_IMAGE_TAG:-} ]]; then
  BUILD_IMAGE=1
  MODEL_HOST_IMAGE_TAG="$(git rev-parse --short HEAD 2>/dev/null || echo local)-$(date -u +%Y%m%dT%H%M%SZ)"
fi

overrides=(
  "OllamaModel=$OLLAMA_MODEL"
  "MaxConcurrency=${MAX_CONCURRENCY:-2}"
  "MaxReceiveCount=${MAX_RECEIVE_COUNT:-30}"
  "RetryWindowSeconds=${RETRY_WINDOW_SECONDS:-3600}"
  "ApiTokenParameterName=$API_TOKEN_PARAMETER"
  "WebhookSecretsParameterName=${WEBHOOK_SECRETS_PARAMETER:-/docsum/webhook-secrets}"
  "LogLevel=${LOG_LEVEL:-INFO}"
  "ModelHostImageRepository=$REPOSITORY"
  "RetentionDays=${RETENTION_DAYS:-0}"
  "RateLimitRequests=${RATE_LIMIT_REQUESTS:-600}"
  "RateLimitWindowSeconds=${RATE_LIMIT_WINDOW_SECONDS:-60}"
)
add() { [[ -n ${2:-} ]] && overrides+=("$1=$2"); return 0; }
add OllamaHost "${EXISTING_OLLAMA_HOST:-}"
add OllamaHostInVpc "${EXISTING_OLLAMA_HOST_IN_VPC:-}"
add SummarizeSubnetIds "${SUMMARIZE_SUBNET_IDS:-}"
add SummarizeSecurityGroupIds "${SUMMARIZE_SECURITY_GROUP_IDS:-}"
add VpcId "${VPC_ID:-}"
add ModelHostImageTag "${MODEL_HOST_IMAGE_TAG:-}"
add ModelHostInstanceType "${MODEL_HOST_INSTANCE_TYPE:-}"
add ModelHostGpuCount "${MODEL_HOST_GPU_COUNT:-}"
add ModelHostMinCount "${MODEL_HOST_MIN_COUNT:-}"
add ModelHostMaxCount "${MODEL_HOST_MAX_COUNT:-}"
add OllamaNumParallel "${OLLAMA_NUM_PARALLEL:-}"
add OllamaKeepAlive "${OLLAMA_KEEP_ALIVE:-}"
add AlarmEmail "${ALARM_EMAIL:-}"
# shellcheck disable=SC2206  # deliberately split into NAME=value words
[[ -n ${PARAMETER_OVERRIDES:-} ]] && overrides+=($PARAMETER_OVERRIDES)

# --- 1. parameters: refuse now what CloudFormation would refuse after the build -----------
"$PY" -m infra.rules "${overrides[@]}"

if [[ $DRY_RUN != 1 ]]; then
  "$SAM" --version >/dev/null 2>&1 || { echo "SAM CLI not found at $SAM: run 'make tools'" >&2; exit 1; }
  # sam build (no container) runs pip with the function runtime's interpreter.
  for PYENV_312 in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin; do
    [[ -x $PYENV_312/python3.12 ]] && export PATH=$PYENV_312:$PATH
  done
  command -v python3.12 >/dev/null || { echo "python3.12 must be on PATH for sam build" >&2; exit 1; }
  if command -v aws >/dev/null 2>&1 \
     && ! aws ssm describe-parameters --parameter-filters "Key=Name,Values=$API_TOKEN_PARAMETER" \
          --query 'Parameters[0].Name' --output text 2>/dev/null | grep -q "$API_TOKEN_PARAMETER"
  then
    echo "warning: SSM parameter $API_TOKEN_PARAMETER not found; every request will get 401" >&2
    echo "         create it first (see the top of this script)" >&2
  fi
fi

# --- 2. the model-host image, in this account's ECR (the private VPC has no internet) ------
if [[ $BUILD_IMAGE == 1 ]]; then
  if [[ $DRY_RUN == 1 ]]; then
    ACCOUNT=${AWS_ACCOUNT_ID:-123456789012}
    REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
  else
    ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
    REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region)}}
  fi
  REGISTRY=$ACCOUNT.dkr.ecr.$REGION.amazonaws.com
  IMAGE=$REGISTRY/$REPOSITORY:$MODEL_HOST_IMAGE_TAG
  if [[ $DRY_RUN == 1 ]] || ! aws ecr describe-repositories --repository-names "$REPOSITORY" >/dev/null 2>&1; then
    # Immutable tags: a tag names one image forever, so a task definition never changes
    # under a running service.
    run aws ecr create-repository --repository-name "$REPOSITORY" \
      --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true
  fi
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ aws ecr get-login-password | docker login --username AWS --password-stdin $REGISTRY" >&2
  else
    aws ecr get-login-password | docker login --username AWS --password-stdin "$REGISTRY"
  fi
  # The model (gemma3:1b by default) is baked in at build time: the hosts need no internet.
  run docker build --platform linux/amd64 --build-arg "OLLAMA_MODEL=$OLLAMA_MODEL" \
    -t "$IMAGE" ollama-host/
  run docker push "$IMAGE"
fi

# --- 3. build and deploy the stack --------------------------------------------------------
run "$SAM" validate --lint --template-file template.yaml
# sam build, then bytecode for every module (Lambda cannot write .pyc: see infra/build.py).
run "$PY" -m infra.build
run "$SAM" deploy \
  --stack-name "$STACK_NAME" \
  --resolve-s3 \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
  --no-confirm-changeset \
  --no-fail-on-empty-changeset \
  --parameter-overrides "${overrides[@]}"

[[ $DRY_RUN == 1 ]] && exit 0
"$SAM" list stack-outputs --stack-name "$STACK_NAME" --output table
if [[ $OWN_MODEL_HOST == 1 ]]; then
  echo "The model host starts in a few minutes (instance boot, image pull, model load):"
  echo "  aws ecs wait services-stable --cluster <ModelHostClusterName> --services <ModelHostServiceName>"
fi
echo "Then: make smoke API_URL=<ApiUrl> TOKEN=<a token from $API_TOKEN_PARAMETER>"
