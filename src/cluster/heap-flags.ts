/**
 * The V8 heap settings every serving process runs with (docs/performance.md, "Memory").
 *
 * - `--heap-growing-percent=50`: after a full collection the old generation may grow by half of
 *   what survived before the next one starts. V8 otherwise picks the factor from the heap's
 *   maximum, and on a machine with gigabytes of memory allows up to 4×: a worker with 40 MB of
 *   live objects let its heap reach 160 MB of mostly dead ones under load. A factor, not a cap:
 *   bounded caches sized by the operator (CLIENT_CACHE_SIZE) can still use what they need.
 * - `--max-semi-space-size=8`: a young generation of 2 × 8 MB instead of 2 × 16 MB. Smaller
 *   semi-spaces (1 and 2 MB) promote the short-lived objects of requests in flight and grew the
 *   old generation instead.
 *
 * The start scripts in package.json and the Dockerfile's CMD pass the same flags to the first
 * process (a test keeps them equal); the cluster primary adds them to its workers' command line,
 * so they apply even when the primary was started without them.
 */
export const HEAP_FLAGS: readonly string[] = [
  '--heap-growing-percent=50',
  '--max-semi-space-size=8',
];

/**
 * The command-line flags of a worker: the primary's own, plus each of HEAP_FLAGS that neither
 * they nor NODE_OPTIONS set, so a value the operator chose wins.
 */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(flagName);
  return [...execArgv, ...HEAP_FLAGS.filter((flag) => !given.includes(flagName(flag)))];
}

/** `--max-semi-space-size=8` → `max-semi-space-size`; V8 treats `_` and `-` alike. */
function flagName(arg: string): string {
  return arg.replace(/^--/, '').split('=')[0].replaceAll('_', '-');
}
