#!/usr/bin/env bash
# Lints template.yaml with the pinned tools from infra/local/setup.sh (installed on first use):
#
#   1. cfn-lint on the SAM template;
#   2. `sam validate --lint` (the SAM CLI's own checks, then cfn-lint again);
#   3. cfn-lint on the CloudFormation template the SAM transform makes of it — the only one of
#      the three that sees a circular dependency between a function and the HTTP API's generated
#      OpenAPI body, and SAM's refusals (e.g. a Name beside an inline OpenAPI title).
#
# Any finding fails. Needs no AWS credentials and no network (past the first install).
#
#   bash infra/local/lint-template.sh            # what `make lint-template` and .ci/run run
set -euo pipefail
cd "$(dirname "$0")/../.."

TEMPLATE="template.yaml"
TOOLS=".venv-tools/bin"

bash infra/local/setup.sh >/dev/null

# The SAM transform needs a region, and nothing here may reach AWS or ask for credentials.
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "lint-template: cfn-lint $("$TOOLS/cfn-lint" --version | awk '{print $2}') $TEMPLATE"
"$TOOLS/cfn-lint" "$TEMPLATE"

echo "lint-template: sam validate --lint ($("$TOOLS/sam" --version))"
"$TOOLS/sam" validate --lint --template "$TEMPLATE"

echo "lint-template: cfn-lint on the transformed template"
"$TOOLS/python" infra/local/transformed_template.py "$TEMPLATE" >"$scratch/transformed.json"
"$TOOLS/cfn-lint" "$scratch/transformed.json"

echo "lint-template: $TEMPLATE passed (no findings)"
