// The post-job step of AwsWifAssume: deletes the run directory the main step wrote the AWS credentials and
// config files into, <Agent.TempDirectory>/aws-wif/run-<16 hex digits>, handed over as the task variable
// AWSWIF_FILES_DIRECTORY. The agent runs post-job steps even when the job failed. Node built-ins only; every
// outcome exits 0 (the agent reports a non-zero exit as an infrastructure failure).
//
// What the environment names is not trusted: the agent adds the job's public variables to a handler's
// environment before the task's own task variables (Handler.cs: AddVariablesToEnvironment, then
// AddTaskVariablesToEnvironment), so when the main step failed before it set its task variable, a job variable
// named VSTS_TASKVARIABLE_AWSWIF_FILES_DIRECTORY, set by any earlier step, fills it in. Only a directory this
// step can prove the main step made is removed; anything else is left alone with one warning.
'use strict';

const fs = require('fs');
const path = require('path');

const FILES_DIRECTORY = 'VSTS_TASKVARIABLE_AWSWIF_FILES_DIRECTORY';
// The main step no longer sets it (the credentials file now lives in the run directory too).
const CREDENTIALS_FILE = 'VSTS_TASKVARIABLE_AWSWIF_CREDENTIALS_FILE';
const RUN_NAME = /^run-[0-9a-f]{16}$/;
const WINDOWS = process.platform === 'win32';

// The agent's unescaping of command data (CommandStringConvertor.cs), reversed: % first.
function escapeData(text) {
  return String(text).replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function warning(message) {
  process.stdout.write(`##vso[task.logissue type=warning]${escapeData(message)}\n`);
}

function ignored(variable, value, reason) {
  warning(`The post-job step ignored ${variable} (${value}) and deleted nothing: ${reason}.`);
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

// Why `folder` is not a real folder of this agent's user, or null when it is; throws lstat's error (ENOENT too).
function notOurFolder(folder) {
  const info = fs.lstatSync(folder);
  // lstat reports a Windows junction as a symbolic link too.
  if (info.isSymbolicLink()) {
    return `${folder} is a symbolic link or junction, not a folder`;
  }
  if (!info.isDirectory()) {
    return `${folder} is not a folder`;
  }
  if (typeof process.getuid === 'function' && info.uid !== process.getuid()) {
    return `${folder} belongs to uid ${info.uid}, not to this agent's user (uid ${process.getuid()})`;
  }
  return null;
}

function samePath(a, b) {
  return WINDOWS ? a.toLowerCase() === b.toLowerCase() : a === b;
}

// The run directory `directory` names when it is provably the main step's, else null after one warning.
function checkedRunDirectory(directory) {
  const temp = process.env.AGENT_TEMPDIRECTORY;
  if (!temp) {
    ignored(FILES_DIRECTORY, directory, 'AGENT_TEMPDIRECTORY is not set, so the path cannot be checked');
    return null;
  }
  if (!path.isAbsolute(temp)) {
    ignored(FILES_DIRECTORY, directory, `AGENT_TEMPDIRECTORY (${temp}) is not an absolute path`);
    return null;
  }
  const form = path.join(temp, 'aws-wif', 'run-<16 hex digits>');
  if (directory.split(/[\\/]/).includes('..')) {
    ignored(FILES_DIRECTORY, directory, `the path contains '..'; the main step writes only ${form}`);
    return null;
  }
  const name = path.basename(directory);
  const expected = path.join(temp, 'aws-wif', name);
  // Exactly the path the main step writes (Python's str(Path): normalised, no trailing separator).
  if (!RUN_NAME.test(name) || !samePath(directory, expected)) {
    ignored(FILES_DIRECTORY, directory, `it is not ${form}, the only folder the main step writes`);
    return null;
  }
  for (const folder of [path.dirname(expected), expected]) {
    let reason;
    try {
      reason = notOurFolder(folder);
    } catch (e) {
      if (e.code === 'ENOENT') {
        return null;  // already gone: nothing to do, nothing to say
      }
      reason = `${folder} cannot be checked (${e.message})`;
    }
    if (reason) {
      ignored(FILES_DIRECTORY, directory, reason);
      return null;
    }
  }
  return expected;
}

function main() {
  const file = process.env[CREDENTIALS_FILE];
  if (file) {
    ignored(CREDENTIALS_FILE, file, 'this task no longer sets it, so it came from another step ' +
      '(a job variable of that name reaches post-job steps)');
  }
  const directory = process.env[FILES_DIRECTORY];
  if (!directory) {
    return;  // the main step stopped before it wrote anything
  }
  const target = checkedRunDirectory(directory);
  if (target === null) {
    return;
  }
  try {
    removeTree(target);
    process.stdout.write(`Deleted the AWS credentials and config files in ${escapeData(target)}\n`);
  } catch (e) {
    if (e.code !== 'ENOENT') {
      warning(`Could not delete the AWS credentials and config files in ${target}: ${e.message}. ` +
        'They expire with the session; the agent empties its temporary folder.');
    }
  }
}

try {
  main();
} catch (e) {
  warning(`The post-job step failed: ${e && e.message}`);
}
process.exit(0);
