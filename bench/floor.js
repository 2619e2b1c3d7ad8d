// The floor for a Node-launched Python design: node spawns python3 with the standard library only,
// which makes the same two HTTP requests as the task (token, then STS) with no validation, no
// retries, no diagnostics, and prints the credentials as logging commands. Nothing real can beat it.
'use strict';
const { spawn } = require('child_process');

const CODE = String.raw`
import json, os, re, urllib.parse, urllib.request
e = os.environ
req = urllib.request.Request(
    e["SYSTEM_OIDCREQUESTURI"] + "?api-version=7.1&serviceConnectionId=" + e["INPUT_SERVICECONNECTION"],
    data=b"{}", method="POST",
    headers={"Authorization": "Bearer " + e["ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN"],
             "Content-Type": "application/json", "X-TFS-FedAuthRedirect": "Suppress"})
token = json.load(urllib.request.urlopen(req))["oidcToken"]
form = urllib.parse.urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
    "RoleArn": e["INPUT_ROLEARN"], "RoleSessionName": "floor", "WebIdentityToken": token}).encode()
xml = urllib.request.urlopen(urllib.request.Request(e["INPUT_STSENDPOINT"], data=form)).read().decode()
for tag, name in (("AccessKeyId", "AWS_ACCESS_KEY_ID"), ("SecretAccessKey", "AWS_SECRET_ACCESS_KEY"),
                  ("SessionToken", "AWS_SESSION_TOKEN")):
    print("##vso[task.setvariable variable=%s;issecret=true]%s" % (name, re.search("<%s>(.*?)</%s>" % (tag, tag), xml).group(1)))
`;

spawn('python3', ['-E', '-s', '-S', '-c', CODE], { stdio: 'inherit' }).on('exit', () => process.exit(0));
