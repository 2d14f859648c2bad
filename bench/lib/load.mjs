// Bounded HTTP load with autocannon, and the server CPU and memory it cost.
import autocannon from 'autocannon';
import { log } from './util.mjs';
import { sampleRss, treeCpuMs } from './processes.mjs';

const current = { instance: null, stopped: false };

/** One autocannon run; refused once stopAllLoad() was called (the benchmark is ending). */
export function cannon(options) {
  if (current.stopped) throw new Error('interrupted');
  const instance = autocannon({ timeout: 10, ...options });
  current.instance = instance;
  return instance.then(
    (result) => {
      current.instance = null;
      return result;
    },
    (err) => {
      current.instance = null;
      throw err;
    },
  );
}

export function stopAllLoad() {
  current.stopped = true;
  current.instance?.stop();
}

/**
 * A warm-up, then the measured run, with the CPU time the server process tree `serverPid`
 * spent during the measured run and the peak RSS of its largest worker over both (`peakRss`,
 * bytes). `options` may be a function of a run's length in seconds that returns that run's
 * options, both made before the warm-up (e.g. pools of single-use tokens).
 */
export async function scenario(name, options, serverPid, settings, database = null) {
  const { seconds, warmupSeconds, connections } = settings;
  const optionsFor = typeof options === 'function' ? options : () => options;
  const warmUp = await optionsFor(warmupSeconds);
  const measured = await optionsFor(seconds);
  log(`${name}: warm-up ${warmupSeconds} s`);
  const rss = sampleRss(serverPid);
  await cannon({ connections, ...warmUp, duration: warmupSeconds });
  log(`${name}: ${seconds} s with ${connections} connections`);
  await database?.start();
  const cpuBefore = treeCpuMs(serverPid);
  const result = await cannon({ connections, ...measured, duration: seconds });
  const cpuAfter = treeCpuMs(serverPid);
  const peakRss = rss.stop();
  const databaseCpuMs = database ? await database.stop() : NaN;
  const completed = result.requests.total;
  const row = {
    name,
    requestsPerSecond: completed / result.duration,
    okPerSecond: result['2xx'] / result.duration,
    ok: result['2xx'],
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    cpuMs: cpuAfter - cpuBefore,
    cpuMsPerRequest: completed > 0 ? (cpuAfter - cpuBefore) / completed : NaN,
    databaseCpuMsPerRequest: completed > 0 ? databaseCpuMs / completed : NaN,
    completed,
    duration: result.duration,
    peakRss,
  };
  log(
    `${name}: ${row.requestsPerSecond.toFixed(0)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ` +
      `non-2xx ${row.non2xx}, errors ${row.errors}, server CPU ${row.cpuMsPerRequest.toFixed(3)} ms/req, ` +
      `peak worker RSS ${(peakRss / 2 ** 20).toFixed(0)} MB` +
      (database ? `, PostgreSQL CPU ${row.databaseCpuMsPerRequest.toFixed(3)} ms/req` : ''),
  );
  return row;
}

/** Ends the run in progress early (its result still comes, with its real duration). */
export function stopCurrentRun() {
  current.instance?.stop();
}
