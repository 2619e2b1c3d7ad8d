// A `node --require` preload for tests: the launcher (or any script) runs as if on another platform, so that
// the branch a Windows or macOS agent takes is exercised on this Linux machine.
//
// FAKE_PLATFORM=win32|darwin: process.platform reads so from the start of the script. Node's own modules that
// the bootstrap loaded before this preload (path among them) stay POSIX: the launcher names path.win32
// where a Windows agent's rule differs from POSIX in a way a test can see (the PATH separator `;`).
//
// FAKE_WIDE_EXIT_CODES=9009,...: Windows keeps a process's whole 32-bit exit code, Linux its low 8 bits, so a
// stand-in that exits 9009 (the Microsoft Store's python.exe) is seen here as 9009 & 0xff = 49. With this
// variable, an exit status equal to the low 8 bits of a listed code is reported as that code, as on Windows.
// Nothing else is changed; neither variable reaches the Python process (the launcher's allow-list).
'use strict';

const platform = process.env.FAKE_PLATFORM;
if (platform) {
  Object.defineProperty(process, 'platform', { value: platform, enumerable: true, configurable: true });
}

const wide = (process.env.FAKE_WIDE_EXIT_CODES || '').split(',').filter(Boolean).map(Number);
if (wide.length) {
  const { ChildProcess } = require('child_process');
  const emit = ChildProcess.prototype.emit;
  ChildProcess.prototype.emit = function emitWide(event, ...args) {
    if ((event === 'exit' || event === 'close') && typeof args[0] === 'number') {
      const code = wide.find((c) => (c & 0xff) === args[0]);
      if (code !== undefined) args[0] = code;
    }
    return emit.call(this, event, ...args);
  };
}
