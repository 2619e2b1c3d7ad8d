// The post-job step of AwsWifAssume: deletes what the main step wrote for later steps: the
// credentials file (credentialsFile: true) and the directory of the AWS credentials and config files
// (profiles). The agent runs post-job steps even when the job failed. Node built-ins only; every
// outcome exits 0.
'use strict';

const fs = require('fs');
const path = require('path');

function escapeData(text) {
  return text.replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function warn(what, target, e) {
  process.stdout.write(
    `##vso[task.logissue type=warning]Could not delete the AWS ${what} ${escapeData(target)}: ` +
    `${escapeData(String(e.message))}. It expires with the session; the agent empties its temporary folder.\n`
  );
}

// Removes a directory tree without ever following a symbolic link: a link is unlinked, never
// entered, so nothing outside the directory can be deleted through one.
function removeTree(target) {
  const info = fs.lstatSync(target);
  if (info.isDirectory()) {
    for (const entry of fs.readdirSync(target)) {
      removeTree(path.join(target, entry));
    }
    fs.rmdirSync(target);
  } else {
    fs.unlinkSync(target);
  }
}

const file = process.env.VSTS_TASKVARIABLE_AWSWIF_CREDENTIALS_FILE;
if (file) {
  try {
    fs.unlinkSync(file);
    process.stdout.write(`Deleted the AWS credentials file ${escapeData(file)}\n`);
  } catch (e) {
    if (e.code !== 'ENOENT') {
      warn('credentials file', file, e);
    }
  }
}

const directory = process.env.VSTS_TASKVARIABLE_AWSWIF_FILES_DIRECTORY;
// Only a run directory the main step made (<Agent.TempDirectory>/aws-wif/run-*) is ever removed.
if (directory && path.isAbsolute(directory) && path.basename(path.dirname(directory)) === 'aws-wif' &&
    path.basename(directory).startsWith('run-')) {
  try {
    removeTree(directory);
    process.stdout.write(`Deleted the AWS credentials and config files in ${escapeData(directory)}\n`);
  } catch (e) {
    if (e.code !== 'ENOENT') {
      warn('credentials and config files in', directory, e);
    }
  }
}
process.exit(0);
