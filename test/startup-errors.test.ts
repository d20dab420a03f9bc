import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { freePort } from './helpers/free-port.js';

const dir = mkdtempSync(join(tmpdir(), 'startup-errors-'));
const groups: number[] = [];
let taken: Server | undefined;

afterEach(async () => {
  for (const pgid of groups.splice(0)) try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  await new Promise((r) => (taken ? taken.close(r) : r(undefined)));
  taken = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether any process of the group is left, waiting up to `ms` for it to go. */
async function groupAlive(pgid: number, ms: number) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    try { process.kill(-pgid, 0); } catch { return false; }
  }
  return true;
}

/** `npm start`'s entry point, forking its background process (WORKER_PROCESS=1), until it exits. */
async function start(env: Record<string, string>) {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...(process.env as Record<string, string>),
      HOST: '127.0.0.1', PORT: String(await freePort()), DATABASE_URL: join(dir, 'app.sqlite'), SECRET_KEY: TEST_SECRET_KEY,
      B24_CLIENT_ID: 'app.test', B24_CLIENT_SECRET: 'test-secret', WORKER_PROCESS: '1', LOG_LEVEL: 'warn', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  groups.push(p.pid!);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  return { code, stdout, stderr: stderr.trim(), orphans: await groupAlive(p.pid!, 3_000) };
}

it('a port already in use stops start-up with one line naming PORT, and leaves no background process behind', async () => {
  taken = createServer();
  const port = await new Promise<number>((r) => taken!.listen(0, '127.0.0.1', () => r((taken!.address() as { port: number }).port)));
  const r = await start({ PORT: String(port) });
  expect(r.stderr).toBe(`Cannot start: PORT (${port}): already in use on HOST 127.0.0.1`);
  expect(r.code).toBe(1);
  expect(r.orphans).toBe(false);
}, 60_000);

it('a HOST that does not resolve stops start-up with one line naming HOST', async () => {
  const r = await start({ HOST: 'nonexistent.invalid' });
  expect(r.stderr).toMatch(/^Cannot start: HOST \(nonexistent\.invalid\): no such host: getaddrinfo (ENOTFOUND|EAI_AGAIN) nonexistent\.invalid$/);
  expect(r.code).toBe(1);
  expect(r.orphans).toBe(false);
}, 60_000);

it('a PostgreSQL that refuses connections stops start-up with one line naming DATABASE_URL, without its password', async () => {
  const closed = await freePort();
  const r = await start({ DATABASE_URL: `postgres://sms:hunter2pw@127.0.0.1:${closed}/sms` });
  expect(r.stderr).toBe(`Cannot start: DATABASE_URL (postgres://sms:***@127.0.0.1:${closed}/sms): cannot open or migrate the database: connect ECONNREFUSED 127.0.0.1:${closed}`);
  expect(r.stdout).not.toMatch(/hunter2pw|\n\s+at /);
  expect(r.code).toBe(1);
  expect(r.orphans).toBe(false);
}, 60_000);

it('a process whose SECRET_KEY is not the one the database was sealed with (another machine\'s generated key) stops start-up naming SECRET_KEY, showing neither key', async () => {
  // Each start gets as far as listening (a taken port ends it there), so the first one has sealed the database.
  taken = createServer();
  const port = await new Promise<number>((r) => taken!.listen(0, '127.0.0.1', () => r((taken!.address() as { port: number }).port)));
  const db = { DATABASE_URL: join(dir, 'keys.sqlite'), PORT: String(port) };
  const first = await start({ ...db, SECRET_KEY: 'a'.repeat(40) });
  expect(first.stderr).toMatch(/^Cannot start: PORT/);
  expect((await start({ ...db, SECRET_KEY: 'a'.repeat(40) })).stderr).toMatch(/^Cannot start: PORT/); // the same key: on to listening
  const other = await start({ ...db, SECRET_KEY: 'b'.repeat(40) });
  expect(other.stderr).toMatch(/^Cannot start: SECRET_KEY: not the key this database's secrets were sealed with/);
  expect(other.stderr + other.stdout).not.toMatch(/aaaa|bbbb/);
  expect(other.code).toBe(1);
  expect(other.orphans).toBe(false);
}, 90_000);
