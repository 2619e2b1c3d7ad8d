// The post-job step of AwsWifAssume: deletes the credentials file the main step wrote (when its
// credentialsFile input was true). The agent runs post-job steps even when the job failed. Node
// built-ins only; every outcome exits 0.
'use strict';

const fs = require('fs');

function escapeData(text) {
  return text.replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

const file = process.env.VSTS_TASKVARIABLE_AWSWIF_CREDENTIALS_FILE;
if (file) {
  try {
    fs.unlinkSync(file);
    process.stdout.write(`Deleted the AWS credentials file ${escapeData(file)}\n`);
  } catch (e) {
    if (e.code !== 'ENOENT') {
      process.stdout.write(
        `##vso[task.logissue type=warning]Could not delete the AWS credentials file ${escapeData(file)}: ` +
        `${escapeData(String(e.message))}. It expires with the session; the agent empties its temporary folder.\n`
      );
    }
  }
}
process.exit(0);
