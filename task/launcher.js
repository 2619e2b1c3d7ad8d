// Starts the bundled awswif Python code for the AwsWifAssume task. Node built-ins only, and it
// never loads azure-pipelines-task-lib, which would delete the INPUT_/ENDPOINT_AUTH_/SECRET_
// variables that the Python side reads. Every outcome, failure included, exits 0: the agent treats
// a non-zero exit as an infrastructure failure, so results travel as logging commands.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const TOO_OLD = 86; // exit code of the bootstrap when the interpreter is older than 3.9
const NOT_FOUND = 9009; // Windows' exit code for a missing program (and the Store's python stub)

function escapeData(text) {
  return text.replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function fail(message) {
  process.stdout.write(`##vso[task.logissue type=error]${escapeData(message)}\n`);
  process.stdout.write(`##vso[task.complete result=Failed]${escapeData(message)}\n`);
}

// Where the Python code is: `lib` beside this file in a built .vsix (awswif and its vendored
// dependencies, isolated from site-packages), or ../python in a source checkout (dependencies
// from the interpreter's environment).
function codeLocation() {
  const bundled = path.join(__dirname, 'lib');
  if (fs.existsSync(path.join(bundled, 'awswif'))) return { dir: bundled, isolated: true };
  const source = path.join(__dirname, '..', 'python');
  if (fs.existsSync(path.join(source, 'awswif'))) return { dir: source, isolated: false };
  return null;
}

function taskVersion() {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(__dirname, 'task.json'), 'utf8')).version;
    return `${v.Major}.${v.Minor}.${v.Patch}`;
  } catch (e) {
    return 'unknown';
  }
}

function candidates() {
  const list = process.platform === 'win32'
    ? [['py', ['-3']], ['python', []], ['python3', []]]
    : [['python3', []], ['python', []]];
  return list;
}

// Python 2-compatible on purpose: an old `python` must reach the version check and exit quietly.
// -E ignores PYTHON* variables (PYTHONPATH, PYTHONHOME); -s skips user site-packages; -S skips
// site-packages altogether for the bundled build. sys.path[0] would be the job's working
// directory: a requests.py in the user's repository must not shadow ours. A package that fails
// to load (a damaged install, a Python the vendored code does not support) is reported through
// the failure contract, with the traceback only when System.Debug is on.
const BOOTSTRAP = [
  'import sys',
  `if sys.version_info < (3, 9): sys.exit(${TOO_OLD})`,
  'sys.path[0] = sys.argv.pop(1)',
  'try:',
  '    from awswif.__main__ import main',
  '    code = main(sys.argv[1:])',
  'except Exception as exc:',
  '    import os, traceback',
  '    if os.environ.get("SYSTEM_DEBUG", "").lower() == "true": traceback.print_exc(file=sys.stdout)',
  '    m = "AwsWifAssume could not start its Python code on Python %d.%d (%s: %s). Reinstall the extension; " \\',
  '        "if it persists, run with System.Debug=true and report it." % (sys.version_info[0], sys.version_info[1],',
  '        type(exc).__name__, exc)',
  '    m = m.replace("%", "%AZP25").replace("\\r", "%0D").replace("\\n", "%0A")',
  '    sys.stdout.write("##vso[task.logissue type=error]" + m + "\\n##vso[task.complete result=Failed]" + m + "\\n")',
  '    code = 0',
  'sys.exit(code)',
].join('\n');

function tryNext(list, code, tried) {
  if (list.length === 0) {
    fail(
      `AwsWifAssume needs Python 3.9 or newer, and none was found on this agent (tried: ${tried.join(', ')}). ` +
      'Add a UsePythonVersion@0 step with versionSpec 3.x before this task, or install python3 in the ' +
      'agent or container image.'
    );
    process.exit(0);
  }
  const [command, prefix] = list[0];
  const flags = code.isolated ? ['-E', '-s', '-S'] : ['-E', '-s'];
  const args = [...prefix, ...flags, '-c', BOOTSTRAP, code.dir, 'task', '--version', taskVersion()];
  const label = [command, ...prefix].join(' ');
  let child;
  try {
    child = spawn(command, args, { stdio: 'inherit', windowsHide: true });
  } catch (e) {
    return tryNext(list.slice(1), code, [...tried, label]);
  }
  let settled = false;
  child.on('error', () => {
    if (settled) return;
    settled = true;
    tryNext(list.slice(1), code, [...tried, label]);
  });
  child.on('exit', (status, signal) => {
    if (settled) return;
    settled = true;
    if (status === TOO_OLD || status === NOT_FOUND) {
      return tryNext(list.slice(1), code, [...tried, `${label} (too old or a stub)`]);
    }
    if (status !== 0) {
      fail(`The awswif Python process ended unexpectedly (${signal ? 'signal ' + signal : 'exit code ' + status}).`);
    }
    process.exit(0);
  });
}

function main() {
  const code = codeLocation();
  if (!code) {
    fail('The AwsWifAssume task is incomplete: its Python code (lib/awswif) is missing. Reinstall the extension.');
    process.exit(0);
  }
  tryNext(candidates(), code, []);
}

main();
