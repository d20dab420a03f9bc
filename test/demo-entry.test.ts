import { afterEach, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './helpers/wait.js';

const ENTRY = fileURLToPath(new URL('../src/demo/main.ts', import.meta.url));
// Resolved here: the child runs in an empty directory of its own, where `--import tsx` would find nothing.
const TSX = import.meta.resolve('tsx');

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  child = undefined;
  dir = undefined;
});

it('the demo entry needs no configuration, keeps its own database file, prints one 127.0.0.1 address and stops on SIGTERM', async () => {
  dir = mkdtempSync(join(tmpdir(), 'b24sms-demo-'));
  // Nothing of this machine's configuration reaches it: only what node needs to run.
  const env = { PATH: process.env.PATH ?? '', HOME: dir };
  child = spawn(process.execPath, ['--import', TSX, ENTRY], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  await eventually(() => out.includes('Ctrl+C'), `the demo to start (stderr: ${err.slice(0, 500)})`, 60_000);

  const urls = out.match(/https?:\/\/\S+/g) ?? [];
  expect(urls).toHaveLength(1);
  const url = new URL(urls[0]!);
  expect(url.hostname).toBe('127.0.0.1');
  expect(url.pathname).toBe('/demo');
  const page = await fetch(url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('name="to"');
  expect(existsSync(join(dir, 'data', 'demo.sqlite'))).toBe(true);
  expect(existsSync(join(dir, 'data', 'secret.key'))).toBe(false);

  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(err).toBe('');
});
