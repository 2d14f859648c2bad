// Child server processes: start, wait for readiness, stop by PID, and their CPU time and resident
// memory from /proc.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { HOST, ROOT, log, sleep } from './util.mjs';

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const CLOCK_TICKS = clockTicks();

/** Servers started and not stopped yet. */
const running = new Set();

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Node `args` in the project root, its output relayed to stderr line by line behind `label`. */
export function startServer(args, env, label = 'server') {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  const relay = (stream) => {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) if (line.trim()) process.stderr.write(`[${label}] ${line}\n`);
    });
  };
  relay(child.stdout);
  relay(child.stderr);
  const server = { child, exited, pid: child.pid, label };
  running.add(server);
  return server;
}

export async function waitUntilReady(url, server) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = null;
  void server.exited.then((info) => (exited = info));
  while (Date.now() < deadline) {
    if (exited)
      throw new Error(`the ${server.label} exited before it was ready (${JSON.stringify(exited)})`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`the ${server.label} was not ready within ${READY_TIMEOUT_MS / 1000} s`);
}

function signalAll(sig, pids) {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

export async function stopServer(server) {
  if (!running.delete(server)) return;
  const { pid } = server;
  const tree = processTree(pid);
  if (server.child.exitCode === null && server.child.signalCode === null) {
    signalAll('SIGTERM', [pid]);
    const done = await Promise.race([server.exited, sleep(STOP_GRACE_MS).then(() => null)]);
    if (done === null) {
      log(`the ${server.label} did not stop within 5 s: sending SIGKILL`);
      signalAll('SIGKILL', [pid]);
      await server.exited;
    }
  }
  // Cluster workers leave with their primary; make sure none of the ones it had is left.
  await sleep(200);
  signalAll(
    'SIGKILL',
    tree.filter((p) => p !== pid && isAlive(p)),
  );
}

/** Stops every server still running; reports failures and goes on with the others. */
export async function stopAllServers() {
  for (const server of [...running]) {
    try {
      await stopServer(server);
    } catch (err) {
      log(`stopping the ${server.label} failed: ${err.message}`);
    }
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// CPU accounting from /proc: utime + stime of a process and all its descendants, in ms.

function childPids(pid) {
  const found = new Set();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of text.split(/\s+/).filter(Boolean)) found.add(Number(child));
    }
    return [...found];
  } catch {
    // No /proc/<pid>/task/*/children on this kernel: ask ps.
  }
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
    return out.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function processTree(root) {
  const all = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    all.push(pid);
    queue.push(...childPids(pid));
  }
  return all;
}

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  } catch {
    return 0;
  }
}

/** CPU ms of each of these processes (e.g. PostgreSQL backends), by pid. */
export function cpuMsByPid(pids) {
  return new Map(pids.map((pid) => [pid, (cpuTicks(pid) * 1000) / CLOCK_TICKS]));
}

export function treeCpuMs(root) {
  const ticks = processTree(root).reduce((sum, pid) => sum + cpuTicks(pid), 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

// Memory: VmRSS of the processes that serve requests, from /proc.

function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** RSS in bytes of each process that serves requests: the workers in cluster mode, else the server. */
export function workerRss(serverPid) {
  const workers = childPids(serverPid);
  const pids = workers.length > 0 ? workers : [serverPid];
  return pids.map((pid) => rssBytes(pid)).filter((bytes) => bytes !== null);
}

const RSS_SAMPLE_MS = 250;

/**
 * Samples workerRss(serverPid) every 250 ms until `stop()`, which returns the largest RSS any
 * one worker had: a reading at the end of a run misses a peak that a full collection removed.
 */
export function sampleRss(serverPid) {
  let peak = 0;
  const sample = () => {
    for (const bytes of workerRss(serverPid)) peak = Math.max(peak, bytes);
  };
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
