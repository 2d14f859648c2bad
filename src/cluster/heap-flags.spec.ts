import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HEAP_FLAGS, workerExecArgv } from './heap-flags.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

describe(workerExecArgv.name, () => {
  it('adds every heap flag to a primary started without them', () => {
    expect(workerExecArgv([])).toEqual(HEAP_FLAGS);
    expect(workerExecArgv(['--enable-source-maps'])).toEqual([
      '--enable-source-maps',
      ...HEAP_FLAGS,
    ]);
  });

  it('does not repeat the flags the primary already runs with', () => {
    expect(workerExecArgv([...HEAP_FLAGS])).toEqual(HEAP_FLAGS);
  });

  it("keeps the operator's value, on the command line or in NODE_OPTIONS", () => {
    const sut = workerExecArgv(['--max_semi_space_size=32'], '--max-old-space-size=512');
    expect(sut).toContain('--max_semi_space_size=32');
    expect(sut.filter((arg) => arg.includes('semi'))).toHaveLength(1);
    expect(sut).toContain('--heap-growing-percent=50');

    const fromEnvironment = workerExecArgv([], ' --heap-growing-percent=100  ');
    expect(fromEnvironment).toEqual(HEAP_FLAGS.filter((f) => !f.includes('growing')));
  });
});

describe('HEAP_FLAGS', () => {
  const command = `node ${HEAP_FLAGS.join(' ')} dist/src/main.js`;

  it('are what the start scripts pass to the server', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe(`npm run -s build && ${command}`);
    expect(pkg.scripts['start:prod']).toBe(command);
  });

  it("are what the container image's command passes to the server", () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]';
    expect((JSON.parse(cmd) as string[]).join(' ')).toBe(command);
  });
});
