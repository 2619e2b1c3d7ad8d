#!/usr/bin/env bash
# The seed article's approach: curl for the token, the AWS CLI (v1, from PyPI) for STS, parsing in
# shell, and the credentials printed as logging commands.
set -euo pipefail
response=$(curl -sS -X POST \
  -H "Authorization: Bearer ${ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN}" \
  -H "Content-Type: application/json" -H "X-TFS-FedAuthRedirect: Suppress" -d '{}' \
  "${SYSTEM_OIDCREQUESTURI}?api-version=7.1&serviceConnectionId=${INPUT_SERVICECONNECTION}")
token=$(printf '%s' "$response" | sed -n 's/.*"oidcToken" *: *"\([^"]*\)".*/\1/p')
read -r key secret session <<<"$(aws sts assume-role-with-web-identity --role-arn "$INPUT_ROLEARN" \
  --role-session-name awscli --web-identity-token "$token" --endpoint-url "$INPUT_STSENDPOINT" \
  --region "$INPUT_REGION" --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)"
echo "##vso[task.setvariable variable=AWS_ACCESS_KEY_ID;issecret=true]$key"
echo "##vso[task.setvariable variable=AWS_SECRET_ACCESS_KEY;issecret=true]$secret"
echo "##vso[task.setvariable variable=AWS_SESSION_TOKEN;issecret=true]$session"
