// Starts the bundled awswif Python code for the AwsWifAssume task. Node built-ins only, and it
// never loads azure-pipelines-task-lib, which would delete the INPUT_/ENDPOINT_AUTH_/SECRET_
// variables that the Python side reads. Every outcome, failure included, exits 0: the agent treats
// a non-zero exit as an infrastructure failure, so results travel as logging commands.
//
// What the agent hands a Node task is far more than this task's own: every secret variable of the
// job (SECRET_*), other tasks' endpoints, task variables. The Python process therefore gets an
// environment built here from an allow-list (CHILD_VARIABLES, plus this task's declared inputs and
// the endpoints of the connection it uses), never process.env as a whole.
//
// An earlier step can put a folder of the repository first on PATH (##vso[task.prependpath]) and plant
// a `python3` in it. So Python is not found by spawn's own PATH lookup (which on Windows even looks
// in the working directory first): the launcher walks PATH itself, skips, with a warning, an
// interpreter in a relative PATH entry or inside a folder of the job's workspace, and starts the
// absolute path it chose.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const TOO_OLD = 86; // exit code of the bootstrap when the interpreter is older than 3.9
const NOT_FOUND = 9009; // Windows' exit code for a missing program (and the Store's python stub)
// The Python launcher's "No suitable Python runtime found" (`py -3` where no Python 3 is registered) and
// "No installed Python found!" (python/cpython PC/launcher2.c: RC_NO_PYTHON, RC_NO_PYTHON_AT_ALL). A py.exe
// that an uninstalled Python left behind answers so, and `python` may still be on PATH (UsePythonVersion@0's).
const PY_NO_PYTHON = { 103: 'the Python launcher found no Python 3', 112: 'the Python launcher found no Python' };
const WINDOWS = process.platform === 'win32';
// Windows' PATH separator, named explicitly: on Windows it is path.delimiter anyway, and a run with the
// platform faked (tests/support/fake_platform.js) takes the branch a Windows agent takes.
const PATH_DELIMITER = WINDOWS ? path.win32.delimiter : path.delimiter;
// Windows' and macOS's default file systems ignore case: a PATH entry may spell a folder differently.
const CASELESS_PATHS = WINDOWS || process.platform === 'darwin';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The only variables, by name, that the Python process receives (besides INPUT_<name> for the inputs
// task.json declares and the endpoint variables of the connection in use: see childEnvironment). A
// name ending in `*` is a prefix. Anything not listed stays with the launcher: the job's other
// secrets, other endpoints, VSTS_TASKVARIABLE_*, SECUREFILE_TICKET_*, PYTHON* and the AWS_* settings
// that would point the AWS client elsewhere (AWS_ENDPOINT_URL, AWS_CONFIG_FILE, AWS_PROFILE, ...).
const CHILD_VARIABLES = {
  // Read by awswif (agent.variable / agent.env / secret_variable in inputs.py, network.py,
  // profiles.py, task.py): debug output, the token request, the default session name, the
  // credentials folder, the agent's proxy, an STS endpoint and a CA bundle set for the job.
  awswif: [
    'SYSTEM_DEBUG', 'SYSTEM_OIDCREQUESTURI', 'SYSTEM_COLLECTIONID', 'SYSTEM_TEAMPROJECT', 'BUILD_BUILDID',
    'RELEASE_RELEASEID', 'AGENT_TEMPDIRECTORY', 'AGENT_PROXYURL', 'AGENT_PROXYUSERNAME', 'AGENT_PROXYBYPASSLIST',
    'AWS_ENDPOINT_URL_STS', 'AWS_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE',
  ],
  // The job access token: SystemVssConnection's (always given to a Node task), and the forms a
  // pipeline that enables script access to it or maps it with env: gives. Only the token and its
  // URL and scheme, not the ENDPOINT_AUTH_SYSTEMVSSCONNECTION JSON, which awswif does not read.
  accessToken: [
    'ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN', 'ENDPOINT_URL_SYSTEMVSSCONNECTION',
    'ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION', 'SECRET_SYSTEM_ACCESSTOKEN', 'SYSTEM_ACCESSTOKEN',
  ],
  // The agent's proxy password (network.py), as a secret variable or as a plain one.
  proxyPassword: ['SECRET_AGENT_PROXYPASSWORD', 'AGENT_PROXYPASSWORD'],
  // Identifiers of the agent, organization, project and job: no secret in them, and messages may
  // soon name them.
  identifiers: [
    'AGENT_VERSION', 'AGENT_OS', 'SYSTEM_COLLECTIONURI', 'SYSTEM_HOSTTYPE', 'SYSTEM_TEAMPROJECTID', 'SYSTEM_JOBID',
    'SYSTEM_PLANID',
  ],
  // What chained sessions' default tags say about the run (session_tags.py DEFAULT_TAGS): no secret.
  sessionTags: [
    'BUILD_DEFINITIONNAME', 'RELEASE_DEFINITIONNAME', 'BUILD_SOURCEBRANCH', 'BUILD_SOURCEVERSION',
    'BUILD_REQUESTEDFOR', 'RELEASE_REQUESTEDFOR',
  ],
  // What the agent sets in a container job, for the coming container-job support.
  container: ['AGENT_CONTAINERID', 'AGENT_CONTAINERMAPPING', 'AGENT_CONTAINERNETWORK'],
  // The network settings that the HTTP and TLS libraries read, so that the task works where other
  // tools of the job do; both spellings, as curl and requests accept both.
  network: [
    'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'ALL_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'all_proxy',
    'SSL_CERT_FILE', 'SSL_CERT_DIR',
  ],
  // botocore's endpoint-selection flags: they choose only among AWS's own STS hosts.
  awsEndpointFlags: ['AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT', 'AWS_STS_REGIONAL_ENDPOINTS'],
  // What any process expects: where programs, the home folder and temporary files are, the user,
  // language and time zone.
  process: ['PATH', 'HOME', 'USER', 'LOGNAME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'LANGUAGE', 'LC_*', 'TZ'],
  // Windows only: Python needs SYSTEMROOT for sockets and randomness, and the rest describe the
  // machine and the user's folders as every Windows program expects to find them.
  windows: [
    'SYSTEMROOT', 'SYSTEMDRIVE', 'WINDIR', 'COMSPEC', 'PATHEXT', 'USERPROFILE', 'APPDATA', 'LOCALAPPDATA',
    'PROGRAMDATA', 'HOMEDRIVE', 'HOMEPATH', 'USERNAME', 'COMPUTERNAME', 'NUMBER_OF_PROCESSORS',
    'PROCESSOR_ARCHITECTURE', 'OS',
  ],
};

// Folders of the job where an earlier step can write (the repository, artifacts, the job's temp
// folder): an interpreter in one of them is never run. The variable names are shown in the warning.
const WORKSPACE_FOLDERS = [
  ['BUILD_SOURCESDIRECTORY', 'Build.SourcesDirectory'],
  ['SYSTEM_DEFAULTWORKINGDIRECTORY', 'System.DefaultWorkingDirectory'],
  ['PIPELINE_WORKSPACE', 'Pipeline.Workspace'],
  ['AGENT_BUILDDIRECTORY', 'Agent.BuildDirectory'],
  ['BUILD_ARTIFACTSTAGINGDIRECTORY', 'Build.ArtifactStagingDirectory'],
  ['BUILD_BINARIESDIRECTORY', 'Build.BinariesDirectory'],
  ['AGENT_TEMPDIRECTORY', 'Agent.TempDirectory'],
];
// Where UsePythonVersion@0 installs Python (by default _work/_tool, beside the job folders, not in
// them): an interpreter there is used even in a layout that puts this folder inside the workspace.
const TOOLS_FOLDER = 'AGENT_TOOLSDIRECTORY';

function escapeData(text) {
  return String(text).replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function fail(message) {
  process.stdout.write(`##vso[task.logissue type=error]${escapeData(message)}\n`);
  process.stdout.write(`##vso[task.complete result=Failed]${escapeData(message)}\n`);
}

function warning(message) {
  process.stdout.write(`##vso[task.logissue type=warning]${escapeData(message)}\n`);
}

function debug(message) {
  process.stdout.write(`##vso[task.debug]${escapeData(message)}\n`);
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

// task.json beside this file: the version to report, and the inputs whose INPUT_ variables Python
// may see. The agent read the same file to run this step, so a missing one is a damaged install.
function readTaskJson() {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, 'task.json'), 'utf8'));
    const v = json.version || {};
    const inputs = (json.inputs || []).map((i) => String((i && i.name) || '').trim()).filter(Boolean);
    return { version: `${v.Major}.${v.Minor}.${v.Patch}`, inputs };
  } catch (e) {
    return null;
  }
}

// Util/VarUtil.cs ConvertToEnvVariableFormat: `.` and space become `_`, upper case.
function envName(name) {
  return name.replace(/[. ]/g, '_').toUpperCase();
}

// Windows treats variable names without regard to case (and Node's process.env there too); elsewhere
// a name is exact.
function nameKey(name) {
  return WINDOWS ? name.toUpperCase() : name;
}

// The id of the connection awswif uses (connection.py read_connection: connectionType `aws` takes
// awsConnection, anything else serviceConnection), when its value is a GUID: what the agent passes
// for a connection. Any other value selects no endpoint (and awswif reports it).
function selectedConnection() {
  const type = (process.env.INPUT_CONNECTIONTYPE || '').trim().toLowerCase();
  const value = (process.env[type === 'aws' ? 'INPUT_AWSCONNECTION' : 'INPUT_SERVICECONNECTION'] || '').trim();
  return GUID.test(value) ? value.toUpperCase() : null;
}

// The environment of the Python process: the allow-listed names, INPUT_<NAME> for each input
// task.json declares, and the endpoint variables of the selected connection. The agent writes an
// endpoint id in lower case and Windows upper-cases every name, so endpoint names compare without
// regard to case everywhere.
function childEnvironment(inputs) {
  const groups = Object.entries(CHILD_VARIABLES).filter(([group]) => WINDOWS || group !== 'windows');
  const listed = groups.flatMap(([, names]) => names);
  const isEndpoint = (n) => n.startsWith('ENDPOINT_');
  const exact = new Set(listed.filter((n) => !n.endsWith('*') && !isEndpoint(n)).map(nameKey));
  const prefixes = listed.filter((n) => n.endsWith('*')).map((n) => nameKey(n.slice(0, -1)));
  for (const input of inputs) exact.add(nameKey(`INPUT_${envName(input)}`));

  const endpointExact = new Set(listed.filter(isEndpoint));
  const endpointPrefixes = [];
  const id = selectedConnection();
  if (id) {
    for (const n of [`ENDPOINT_URL_${id}`, `ENDPOINT_AUTH_${id}`, `ENDPOINT_AUTH_SCHEME_${id}`, `ENDPOINT_DATA_${id}`]) {
      endpointExact.add(n);
    }
    endpointPrefixes.push(`ENDPOINT_AUTH_PARAMETER_${id}_`, `ENDPOINT_DATA_${id}_`);
  }

  const env = {};
  const secretInputs = inputsHoldingSecrets(inputs);
  if (secretInputs.length) env[SECRET_INPUTS] = secretInputs.join(',');
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || nameKey(name) === nameKey(SECRET_INPUTS)) continue;
    const key = nameKey(name);
    const upper = name.toUpperCase();
    if (
      exact.has(key) ||
      prefixes.some((p) => key.startsWith(p)) ||
      endpointExact.has(upper) ||
      endpointPrefixes.some((p) => upper.startsWith(p))
    ) {
      env[name] = value;
    }
  }
  return env;
}

// Which inputs hold the value of a secret variable of the job (the agent expands $(secret) into an
// input). Python gets the names, never the secrets: it keeps such a value out of every message it
// prints (agent.py), since an error quoting an invalid input would otherwise show it in the raw
// output, and the task.complete text is never masked.
const SECRET_INPUTS = 'AWSWIF_SECRET_INPUTS';

function inputsHoldingSecrets(inputs) {
  const secrets = Object.entries(process.env)
    .filter(([name, value]) => name.toUpperCase().startsWith('SECRET_') && value)
    .map(([, value]) => value);
  return inputs
    .map((input) => `INPUT_${envName(input)}`)
    .filter((name) => {
      const value = process.env[name] || '';
      return value && secrets.some((secret) => value.includes(secret));
    });
}

function candidates() {
  const list = WINDOWS
    ? [['py', ['-3']], ['python', []], ['python3', []]]
    : [['python3', []], ['python', []]];
  return list;
}

function realPath(file) {
  try {
    return fs.realpathSync.native(file);
  } catch (e) {
    try {
      return fs.realpathSync(file);
    } catch (e2) {
      return path.resolve(file);
    }
  }
}

function isInside(file, folder) {
  const a = CASELESS_PATHS ? file.toLowerCase() : file;
  const b = CASELESS_PATHS ? folder.toLowerCase() : folder;
  const rel = path.relative(b, a);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

// A folder as its variable names it and as it really is (a link to it counts as it).
function folderForms(value) {
  if (!value || !path.isAbsolute(value)) return [];
  const given = path.resolve(value);
  const real = realPath(given);
  return real === given ? [given] : [given, real];
}

function workspaceFolders() {
  return WORKSPACE_FOLDERS.flatMap(([name, label]) =>
    folderForms(process.env[name]).map((dir) => ({ dir, label: `${label} (${process.env[name]})` })));
}

// The workspace folder a path lies in, unless it is in the tools folder.
function workspaceOf(file, workspace, tools) {
  if (tools.some((dir) => isInside(file, dir))) return null;
  return workspace.find((folder) => isInside(file, folder.dir)) || null;
}

function isExecutable(file) {
  try {
    if (!fs.statSync(file).isFile()) return false;
    if (!WINDOWS) fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch (e) {
    return false;
  }
}

// The file names to look for: on Windows the PATHEXT extensions that start without a shell (spawn
// refuses .bat and .cmd without one, and libuv's own lookup tried only .com and .exe).
function fileNames(command) {
  if (!WINDOWS) return [command];
  const startable = (process.env.PATHEXT || '.COM;.EXE').split(';')
    .map((e) => e.trim().toLowerCase()).filter((e) => e === '.com' || e === '.exe');
  return [...new Set(startable.length ? startable : ['.com', '.exe'])].map((e) => command + e);
}

// The interpreter to start for a command: the first match along PATH that lies outside the job's
// workspace. A match in a relative PATH entry (relative to the working directory, the repository) or
// whose real file is in the workspace is skipped with a warning. A link in the workspace to an
// interpreter elsewhere is started by its real path, so that nothing beside the link (a pyvenv.cfg,
// a virtual environment's site-packages) is read. On Windows, an interpreter that was started and passed over
// (`passed`: the Store's stand-in, a Python older than 3.9) is skipped for the next match on PATH.
function locate(command, workspace, tools, skipped, passed = []) {
  const entries = (process.env.PATH || '').split(PATH_DELIMITER)
    .map((e) => (WINDOWS ? e.replace(/^"(.*)"$/, '$1') : e));
  for (const entry of entries) {
    for (const name of fileNames(command)) {
      if (!path.isAbsolute(entry)) {
        const file = path.resolve(entry, name);
        if (isExecutable(file) && !skipped.includes(file)) {
          skipped.push(file);
          warning(`AwsWifAssume did not run ${file}: it was found through the relative PATH entry '${entry}', ` +
            'which names a folder of the working directory, where an earlier step can plant files. ' +
            'Put only absolute folders on PATH.');
        }
        continue;
      }
      const file = path.join(entry, name);
      if (!isExecutable(file)) continue;
      const real = realPath(file);
      const folder = workspaceOf(real, workspace, tools);
      if (folder) {
        if (skipped.includes(file)) continue; // the same folder twice on PATH: warned once
        skipped.push(file);
        const link = real === file ? '' : ` (a link to ${real})`;
        warning(`AwsWifAssume did not run ${file}${link}: it lies inside ${folder.label}, a folder of the ` +
          'job where an earlier step can plant files. Install Python outside the workspace (UsePythonVersion@0 ' +
          'puts it in Agent.ToolsDirectory, or use the agent image\'s), or take that folder off PATH.');
        continue;
      }
      if (real !== file && workspaceOf(file, workspace, tools)) {
        if (passed.includes(real)) continue;
        debug(`${file} lies inside the job's workspace; starting the interpreter it links to, ${real}.`);
        return real;
      }
      if (passed.includes(file)) continue;
      return file;
    }
  }
  return null;
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

// The job's container, when this step runs inside it: the agent sets Agent.ContainerId (and
// Agent.ContainerMapping, {"<alias>": {"id": "<id>"}}) for a job with a container
// (ContainerOperationProvider.cs), and runs a task step in it with the task's folder under the
// container's work mount (/__w, C:\__w on Windows: HostContext.cs CreateContainerInfo); with
// `target: host` the step runs on the agent, from the host's path. Files such as /.dockerenv say
// nothing here: an agent that itself runs in Docker has them too. Returns how to name the container.
function jobContainer() {
  const id = (process.env.AGENT_CONTAINERID || '').trim();
  const mount = WINDOWS ? 'c:\\__w\\' : '/__w/';
  const here = WINDOWS ? __dirname.toLowerCase() : __dirname;
  if (!id || !here.startsWith(mount)) return null;
  let alias = '';
  try {
    const mapping = JSON.parse(process.env.AGENT_CONTAINERMAPPING || '{}');
    alias = Object.keys(mapping).find((name) => mapping[name] && mapping[name].id === id) || '';
  } catch (e) {
    alias = '';
  }
  return alias ? `'${alias}' (${id.slice(0, 12)})` : id.slice(0, 12);
}

// Why a started candidate is passed over for the next one, from its exit code; null when its exit code is the
// task's own. On Windows the reason names what answered: the bootstrap of a Python older than 3.9, the
// Microsoft Store's python.exe/python3.exe (App Execution Aliases in %LOCALAPPDATA%\Microsoft\WindowsApps,
// which print "Python was not found; run without arguments to install from the Microsoft Store, ..." on
// stderr and exit 9009), or a Python launcher without a Python to start.
function passedOver(command, status) {
  if (!WINDOWS) return status === TOO_OLD || status === NOT_FOUND ? 'too old or a stub' : null;
  if (status === TOO_OLD) return 'older than Python 3.9';
  if (status === NOT_FOUND) return 'the Microsoft Store\'s stand-in for Python, exit code 9009';
  if (command === 'py' && PY_NO_PYTHON[status]) return `${PY_NO_PYTHON[status]}, exit code ${status}`;
  return null;
}

// What the error says to do when no candidate could run the task.
function pythonAdvice(run) {
  if (!WINDOWS) {
    return 'Add a UsePythonVersion@0 step with versionSpec 3.x before this task, or install python3 on the agent.';
  }
  const store = run.storeStubs.length
    ? ' The Microsoft Store\'s shortcuts named above only install Python: install it as above or from the Store, and ' +
      'turn them off under Settings > Apps > Advanced app settings > App execution aliases so that they do not ' +
      'stand in for it.'
    : '';
  return 'Add a UsePythonVersion@0 step with versionSpec 3.x before this task, or install Python 3.9 or newer on the ' +
    `agent (python.org's installer, with "Add python.exe to PATH" or the py launcher).${store}`;
}

// `again`: the same command once more, after its previous match on PATH was passed over (Windows).
function tryNext(list, run, tried, again = false) {
  if (list.length === 0) {
    const skipped = run.skipped.length
      ? `Not run, as they lie in the job's workspace or a relative PATH entry, where an earlier step can plant ` +
        `files: ${run.skipped.join(', ')}. `
      : '';
    const container = jobContainer();
    if (container) {
      fail(
        `AwsWifAssume runs inside the job's container ${container}, and that image has no Python 3.9 or newer ` +
        `(tried: ${tried.join(', ')}). ${skipped}Either use an image with python3, or run this step on the ` +
        'agent: add `target: host` to the AwsWifAssume@1 step (later steps in the container still get the ' +
        'credentials and files).'
      );
    } else {
      fail(
        `AwsWifAssume needs Python 3.9 or newer, and none was found on this agent (tried: ${tried.join(', ')}). ` +
        skipped +
        pythonAdvice(run)
      );
    }
    process.exit(0);
  }
  const [command, prefix] = list[0];
  const label = [command, ...prefix].join(' ');
  const file = locate(command, run.workspace, run.tools, run.skipped, run.passed);
  if (!file) return tryNext(list.slice(1), run, again ? tried : [...tried, label]);
  const code = run.code;
  const flags = code.isolated ? ['-E', '-s', '-S'] : ['-E', '-s'];
  const args = [...prefix, ...flags, '-c', BOOTSTRAP, code.dir, 'task', '--version', run.version];
  let child;
  try {
    child = spawn(file, args, { stdio: 'inherit', windowsHide: true, env: run.env });
  } catch (e) {
    return tryNext(list.slice(1), run, [...tried, label]);
  }
  let settled = false;
  child.on('error', () => {
    if (settled) return;
    settled = true;
    tryNext(list.slice(1), run, [...tried, label]);
  });
  child.on('exit', (status, signal) => {
    if (settled) return;
    settled = true;
    const reason = passedOver(command, status);
    if (reason) {
      if (!WINDOWS) return tryNext(list.slice(1), run, [...tried, `${label} (${reason})`]);
      // The next match of the same command on PATH, then the next command: a python.exe in a folder after
      // the Store's (%LOCALAPPDATA%\Microsoft\WindowsApps, early on the user's PATH) is the one installed.
      if (status === NOT_FOUND) run.storeStubs.push(file);
      run.passed.push(file);
      debug(`AwsWifAssume did not use ${label} (${file}): ${reason}.`);
      return tryNext(list, run, [...tried, `${label} (${file}: ${reason})`], true);
    }
    if (run.storeStubs.length) {
      // Named where it shows, once an interpreter ran the task: later steps that run `python` meet the same
      // stand-in. (When none runs, the error names it instead.)
      const names = [...new Set(run.storeStubs.map((f) => `\`${path.basename(f, path.extname(f))}\``))].join(' or ');
      warning(`AwsWifAssume did not use ${run.storeStubs.join(', ')}: the Microsoft Store's shortcut to install ` +
        `Python (exit code 9009), not an interpreter; it ran ${file}. Later steps that run ${names} get the ` +
        'shortcut too, unless it is turned off under Settings > Apps > Advanced app settings > App execution aliases.');
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
  const task = readTaskJson();
  if (!task) {
    fail('The AwsWifAssume task is incomplete: its task.json is missing or unreadable. Reinstall the extension.');
    process.exit(0);
  }
  const run = {
    code,
    version: task.version,
    env: childEnvironment(task.inputs),
    workspace: workspaceFolders(),
    tools: folderForms(process.env[TOOLS_FOLDER]),
    skipped: [],
    passed: [],
    storeStubs: [],
  };
  tryNext(candidates(), run, []);
}

main();
