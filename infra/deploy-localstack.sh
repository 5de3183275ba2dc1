#!/usr/bin/env bash
# Build template.yaml with SAM and deploy it to LocalStack; print the API URL.
#
# Used by the `deployer` service of docker-compose.yml (docker compose run --rm deployer), and
# runnable from a host shell against a LocalStack on localhost:4566:
#
#   SAM_PARAMETER_OVERRIDES="OllamaHostInVpc=http://host.docker.internal:11434" \
#     bash infra/deploy-localstack.sh
#
# Environment (defaults in brackets):
#   AWS_ENDPOINT_URL          LocalStack edge URL [http://localhost:4566]
#   STACK_NAME                CloudFormation stack [docsum]
#   SAM_PARAMETER_OVERRIDES   NAME=value pairs for template.yaml's parameters (OllamaHostInVpc
#                             needed; without SummarizeSubnetIds the default VPC's are added)
#   API_TOKENS                comma-separated bearer tokens for the SSM SecureString
#                             [local-dev-token]
#   WEBHOOK_SECRETS           client:whsec_… entries for the webhook-secrets SecureString
#                             [one generated for client default, printed]
#   IAC_VENV                  where to install the pinned SAM CLI when none is found [/opt/iac]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export SAM_CLI_TELEMETRY=0
STACK_NAME=${STACK_NAME:-docsum}
API_TOKENS=${API_TOKENS:-local-dev-token}
SAM_PARAMETER_OVERRIDES=${SAM_PARAMETER_OVERRIDES:-OllamaHostInVpc=http://ollama:11434}
BUILD_DIR=${BUILD_DIR:-$ROOT/.aws-sam/localstack}

# S3 path-style addressing: virtual-hosted bucket names do not resolve behind a plain
# http://localstack:4566 endpoint.
AWS_CONFIG_FILE=$(mktemp)
export AWS_CONFIG_FILE
trap 'rm -f "$AWS_CONFIG_FILE"' EXIT
printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n' \
  "$AWS_DEFAULT_REGION" >"$AWS_CONFIG_FILE"

# --- tools: the pinned SAM CLI (infra/requirements-iac.txt) -------------------------------
if [[ -x "$ROOT/.tools/iac/bin/sam" ]] && "$ROOT/.tools/iac/bin/sam" --version >/dev/null 2>&1
then
  IAC_BIN=$ROOT/.tools/iac/bin
else
  IAC_VENV=${IAC_VENV:-/opt/iac}
  if ! "$IAC_VENV/bin/sam" --version >/dev/null 2>&1; then
    echo "installing the SAM CLI into $IAC_VENV ..."
    python3.12 -m venv "$IAC_VENV"
    "$IAC_VENV/bin/pip" install --quiet -r infra/requirements-iac.txt
  fi
  IAC_BIN=$IAC_VENV/bin
fi
PY=$IAC_BIN/python  # has boto3 (a SAM CLI dependency)

# --- wait for LocalStack ------------------------------------------------------------------
"$PY" - <<'EOF'
import json, os, time, urllib.request
url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/_localstack/health"
deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            services = json.load(response).get("services", {})
        if all(services.get(s) in ("available", "running") for s in
               ("cloudformation", "lambda", "s3", "sqs", "dynamodb", "ssm", "apigateway")):
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        raise SystemExit(f"LocalStack not ready at {url}")
    time.sleep(2)
print(f"LocalStack ready at {url}")
EOF

# --- the network of the model host ---------------------------------------------------------
# The ollama container is private to the compose network, so it is named in OllamaHostInVpc,
# which the template's Rules only accept with subnets and security groups: use LocalStack's
# default VPC (Lambda containers reach `ollama` over the Docker network either way).
if [[ " $SAM_PARAMETER_OVERRIDES " == *" OllamaHostInVpc="* \
      && " $SAM_PARAMETER_OVERRIDES " != *" SummarizeSubnetIds="* ]]; then
  network=$("$PY" - <<'EOF'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
where = [{"Name": "vpc-id", "Values": [vpc]}]
subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=where)["Subnets"]][:2]
groups = ec2.describe_security_groups(
    Filters=[*where, {"Name": "group-name", "Values": ["default"]}]
)["SecurityGroups"]
print(f"SummarizeSubnetIds={','.join(subnets)} SummarizeSecurityGroupIds={groups[0]['GroupId']}")
EOF
)
  SAM_PARAMETER_OVERRIDES="$SAM_PARAMETER_OVERRIDES $network"
  echo "model host network: LocalStack's default VPC ($network)"
fi

# --- the bearer-token parameter the ingest function reads ---------------------------------
TOKEN_PARAMETER=/docsum/api-tokens
for pair in $SAM_PARAMETER_OVERRIDES; do
  [[ $pair == ApiTokenParameterName=* ]] && TOKEN_PARAMETER=${pair#ApiTokenParameterName=}
done
TOKEN_PARAMETER=$TOKEN_PARAMETER API_TOKENS=$API_TOKENS "$PY" - <<'EOF'
import os, boto3
boto3.client("ssm").put_parameter(
    Name=os.environ["TOKEN_PARAMETER"], Value=os.environ["API_TOKENS"],
    Type="SecureString", Overwrite=True,
)
print(f"SSM SecureString {os.environ['TOKEN_PARAMETER']} set")
EOF

# --- the webhook signing secrets the webhook function reads --------------------------------
SECRETS_PARAMETER=/docsum/webhook-secrets
for pair in $SAM_PARAMETER_OVERRIDES; do
  [[ $pair == WebhookSecretsParameterName=* ]] && SECRETS_PARAMETER=${pair#WebhookSecretsParameterName=}
done
SECRETS_PARAMETER=$SECRETS_PARAMETER WEBHOOK_SECRETS=${WEBHOOK_SECRETS:-} "$PY" - <<'EOF'
import base64, os, secrets, boto3
value = os.environ["WEBHOOK_SECRETS"] or (
    "default:whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
)
boto3.client("ssm").put_parameter(
    Name=os.environ["SECRETS_PARAMETER"], Value=value, Type="SecureString", Overwrite=True
)
print(f"SSM SecureString {os.environ['SECRETS_PARAMETER']} set: {value}")
EOF

# --- build ------------------------------------------------------------------------------
"$IAC_BIN/sam" build --template-file template.yaml --build-dir "$BUILD_DIR"

# LocalStack Community accepts layers but does not apply them when a function runs: copy the
# built layer (python/...) into every function artifact. Harmless where layers do work.
LAYER_DIR=$(find "$BUILD_DIR" -mindepth 2 -maxdepth 2 -type d -name python | head -n 1)
if [[ -n "$LAYER_DIR" ]]; then
  for function_dir in "$BUILD_DIR"/*Function; do
    cp -a "$LAYER_DIR"/. "$function_dir"/
  done
fi

# --- deploy -----------------------------------------------------------------------------
# shellcheck disable=SC2086  # the overrides are deliberately split into NAME=value words
"$IAC_BIN/sam" deploy \
  --template-file "$BUILD_DIR/template.yaml" \
  --stack-name "$STACK_NAME" \
  --resolve-s3 \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
  --no-confirm-changeset \
  --no-fail-on-empty-changeset \
  --parameter-overrides $SAM_PARAMETER_OVERRIDES

STACK_NAME=$STACK_NAME "$PY" - <<'EOF'
import os, boto3
stack = boto3.client("cloudformation").describe_stacks(StackName=os.environ["STACK_NAME"])
outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}
for key, value in sorted(outputs.items()):
    print(f"{key}={value}")
api_id = outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
edge = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
# ApiUrl names the AWS host; LocalStack serves the same stage here:
print(f"LOCAL_API_URL={edge}/restapis/{api_id}/v1/_user_request_")
EOF
