#!/usr/bin/env bash
# Deploy template.yaml to an AWS account as one environment of samconfig.toml: check the
# parameters, build and push the model-host image when its content changed, sam build
# (+ bytecode), sam deploy.
#
# One-time: create the bearer-token parameter the API checks (comma-separated `client:token`
# entries, or `client:sha256:<hex>` hashes; list old and new together while rotating).
# SecureString with the AWS managed key aws/ssm, which the function role can decrypt without
# extra KMS permissions (the environment's ApiTokenParameterName in samconfig.toml):
#
#   aws ssm put-parameter --name /docsum/api-tokens --type SecureString \
#     --value "alice:$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
#
# Then:
#
#   make deploy DEPLOY_ENV=staging                   # everything, the model host included
#   MODEL_HOST_IMAGE_TAG=v1.2.0 make deploy DEPLOY_ENV=production   # an image already in ECR
#   EXISTING_OLLAMA_HOST=https://ollama.example.com make deploy DEPLOY_ENV=staging  # your host
#
# The environment's configuration is its section of samconfig.toml. A parameter it does not
# name keeps the stack's current value (never the template default), so a deploy cannot reset
# one by omission. The variables below add to the section for one run; put lasting settings in
# samconfig.toml.
#
# Environment:
#   DEPLOY_ENV (required)  a section of samconfig.toml: staging, production
#   AWS_REGION / AWS_PROFILE: the usual AWS CLI settings
#   EXISTING_OLLAMA_HOST (OllamaHost), EXISTING_OLLAMA_HOST_IN_VPC (OllamaHostInVpc): your own
#                          host (not OLLAMA_HOST: the ollama client's own setting)
#   SUMMARIZE_SUBNET_IDS, SUMMARIZE_SECURITY_GROUP_IDS, VPC_ID: existing network (see docs/deploying.md)
#   MODEL_HOST_IMAGE_TAG   run this tag of ModelHostImageRepository: nothing is built
#   MODEL_HOST_IMAGE_URI   run this image (ModelHostImageUri, e.g. a pull-through cache of the
#                          released image): nothing is built
#   PARAMETER_OVERRIDES    more NAME=value pairs, space-separated, passed as they are
#   CLOUDFORMATION_ROLE_ARN  a service role CloudFormation acts with (the deploy workflow's
#                          role then needs only infra/roles/deploy-policy.json)
#   DRY_RUN=1              print the commands that change something instead of running them
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

if [[ -z ${DEPLOY_ENV:-} ]]; then
  echo "DEPLOY_ENV is required: the samconfig.toml environment to deploy (staging, production)" >&2
  exit 2
fi
STACK_NAME=$("$PY" -m infra.samconfig stack-name "$DEPLOY_ENV")

extra=()
add() { [[ -n ${2:-} ]] && extra+=("$1=$2"); return 0; }
add OllamaHost "${EXISTING_OLLAMA_HOST:-}"
add OllamaHostInVpc "${EXISTING_OLLAMA_HOST_IN_VPC:-}"
add SummarizeSubnetIds "${SUMMARIZE_SUBNET_IDS:-}"
add SummarizeSecurityGroupIds "${SUMMARIZE_SECURITY_GROUP_IDS:-}"
add VpcId "${VPC_ID:-}"
add ModelHostImageTag "${MODEL_HOST_IMAGE_TAG:-}"
add ModelHostImageUri "${MODEL_HOST_IMAGE_URI:-}"
# shellcheck disable=SC2206  # deliberately split into NAME=value words
[[ -n ${PARAMETER_OVERRIDES:-} ]] && extra+=($PARAMETER_OVERRIDES)
mapfile -t overrides < <("$PY" -m infra.samconfig overrides "$DEPLOY_ENV" "${extra[@]}")

value() {  # the value this deploy gives a parameter (empty: not given)
  local pair
  for pair in "${overrides[@]}"; do
    [[ $pair == "$1="* ]] && { echo "${pair#*=}"; return 0; }
  done
  return 0
}
OLLAMA_MODEL=$(value OllamaModel)
OLLAMA_MODEL=${OLLAMA_MODEL:-gemma3:1b}
REPOSITORY=$(value ModelHostImageRepository)
REPOSITORY=${REPOSITORY:-docsum-ollama}
BUILD_IMAGE=0
if [[ -z $(value OllamaHost) && -z $(value OllamaHostInVpc) && -z $(value ModelHostImageTag) \
      && -z $(value ModelHostImageUri) ]]; then
  BUILD_IMAGE=1
  # Named by content: an unchanged image keeps its tag (no push, no host replaced).
  MODEL_HOST_IMAGE_TAG=$("$PY" -m infra.image_tag "OLLAMA_MODEL=$OLLAMA_MODEL")
  overrides+=("ModelHostImageTag=$MODEL_HOST_IMAGE_TAG")
fi

# --- 1. parameters: refuse now what CloudFormation would refuse after the build -----------
"$PY" -m infra.rules "${overrides[@]}"

if [[ $DRY_RUN != 1 ]]; then
  "$SAM" --version >/dev/null 2>&1 || { echo "SAM CLI not found at $SAM: run 'make tools'" >&2; exit 1; }
  # sam build (no container) runs pip with the function runtime's interpreter.
  for PYENV_312 in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin; do
    [[ -x $PYENV_312/python3.12 ]] && export PATH=$PYENV_312:$PATH
  done
  command -v python3.12 >/dev/null || { echo "python3.12 must be on PATH for sam build" >&2; exit 1; }
  API_TOKEN_PARAMETER=$(value ApiTokenParameterName)
  if [[ -n $API_TOKEN_PARAMETER ]] && command -v aws >/dev/null 2>&1 \
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
  # Every time (idempotent): the repository keeps the newest images and drops the rest.
  run aws ecr put-lifecycle-policy --repository-name "$REPOSITORY" \
    --lifecycle-policy-text "file://infra/ecr-lifecycle-policy.json"
  if [[ $DRY_RUN != 1 ]] && aws ecr describe-images --repository-name "$REPOSITORY" \
       --image-ids "imageTag=$MODEL_HOST_IMAGE_TAG" >/dev/null 2>&1; then
    echo "model-host image $MODEL_HOST_IMAGE_TAG is already in ECR: nothing to build" >&2
  else
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
fi

# --- 3. build and deploy the stack --------------------------------------------------------
run "$SAM" validate --lint --template-file template.yaml
# sam build, then bytecode for every module (Lambda cannot write .pyc: see infra/build.py).
run "$PY" -m infra.build
deploy=("$SAM" deploy --config-env "$DEPLOY_ENV" --parameter-overrides "${overrides[@]}")
# In the deploy workflow the environment's approval gate is the confirmation; by hand sam
# shows the change set and asks (samconfig.toml: confirm_changeset).
[[ ${CI:-} == true ]] && deploy+=(--no-confirm-changeset)
[[ -n ${CLOUDFORMATION_ROLE_ARN:-} ]] && deploy+=(--role-arn "$CLOUDFORMATION_ROLE_ARN")
run "${deploy[@]}"

[[ $DRY_RUN == 1 ]] && exit 0
"$SAM" list stack-outputs --stack-name "$STACK_NAME" --output table
if [[ -z $(value OllamaHost) && -z $(value OllamaHostInVpc) ]]; then
  echo "The model host starts when the first document arrives (instance boot, image pull, model"
  echo "load: several minutes) unless ModelHostMinCount keeps one running."
fi
echo "Then: make smoke API_URL=<ApiUrl> TOKEN=<a token from $(value ApiTokenParameterName)>"
