import { spawn, spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

const FIXTURE = ['--import', 'tsx', 'test/fixtures/log-then-exit.ts'];
const parse = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number; pid: number });

it('loses no line written asynchronously when the process exits right after (process.exit or an uncaught error)', () => {
  // ~2.5 MB: far more than one write takes, so most of it is still buffered when the process exits.
  for (const how of ['exit', 'throw'] as const) {
    const r = spawnSync(process.execPath, [...FIXTURE, '10000', how], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(r.status).toBe(how === 'exit' ? 0 : 1);
    expect(parse(r.stdout).map((l) => l.i)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  }
}, 60_000);

it('does not stall the process while nobody reads its standard output, and loses nothing once it is read', async () => {
  // ~500 KB, several times what the pipe and node's own buffer hold: written synchronously, the logging would wait
  // for the reader, that is for the whole pause.
  const child = spawn(process.execPath, [...FIXTURE, '2000', 'timed'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise((r) => setTimeout(r, 4000)); // nobody reads standard output meanwhile
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((done) => child.on('close', done));
  const took = Number(/logged in (\d+) ms/.exec(err)?.[1]);
  expect(took).toBeLessThan(3000); // a blocked write would have taken the 4 s of the pause
  expect(parse(out).map((l) => l.i)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
}, 60_000);

it('a graceful exit waits until every line is written, the write blocked on a full pipe included: nothing is lost', async () => {
  // ~5 MB: the pipe (64 KB) is full long before the lines are logged, and stays full while nobody reads it.
  const child = spawn(process.execPath, [...FIXTURE, '20000', 'tell'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.pause();
  await new Promise((r) => setTimeout(r, 3000)); // nobody reads: flushStdout cannot have finished meanwhile
  const flushedWhileUnread = err.includes('flushed');
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stdout.resume();
  const status = await new Promise((done) => child.on('close', done));
  expect(flushedWhileUnread).toBe(false);
  expect(status).toBe(0);
  expect(err).toContain('flushed');
  expect(parse(out).map((l) => l.i)).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
}, 60_000);

it('two processes sharing one standard output (npm start and its background process) never mix their lines', async () => {
  // Read slowly, so that the pipe is full most of the time: a write larger than the pipe takes whole (PIPE_BUF) is
  // then taken in parts, and the other process's lines land between them.
  const child = spawn(process.execPath, [...FIXTURE, '20000', 'pair'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), 2);
  });
  const status = await new Promise((done) => child.on('close', done));
  expect(status).toBe(0);
  const broken = out.split('\n').filter(Boolean).filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
  expect(broken.slice(0, 3)).toEqual([]);
  const byPid = new Map<number, number>();
  for (const l of parse(out)) byPid.set(l.pid, (byPid.get(l.pid) ?? 0) + 1);
  expect([...byPid.values()]).toEqual([20_000, 20_000]);
}, 120_000);
