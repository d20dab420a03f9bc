import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/**
 * Kannel's boxes write every line they log to stderr at debug level unless told (`-v`): a few lines per message,
 * which cost Kannel CPU to format and the test's process CPU to drain (in the bench, a third of a core at 850
 * messages/s end to end). Warnings and errors still reach stderr, and the log files keep log-level 2 as configured.
 */
const QUIET = ['-v', '2'];

export const KANNEL_BIN = { bearerbox: '/usr/sbin/bearerbox', smsbox: '/usr/sbin/smsbox', fakesmsc: '/usr/lib/kannel/test/fakesmsc' };
export const kannelInstalled = () => Object.values(KANNEL_BIN).every((p) => existsSync(p));

/** Suites that drive Kannel cannot run without it; .ci/run installs it. */
export function requireKannel() {
  if (!kannelInstalled()) throw new Error('Kannel is not installed: apt-get install -y kannel kannel-extras (see .ci/run)');
}


/**
 * A real Kannel on loopback (gateways.md §2): bearerbox, fakesmsc as the SMS centre, smsbox with sendsms,
 * all on free ports, started in that order and stopped by the test.
 */
export async function startKannel(opts: { username?: string; password?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kannel-'));
  let [admin, smsboxPort, fakePort] = [await freePort(), await freePort(), await freePort()];
  let sendsms = await freePort();
  const adminPassword = randomBytes(8).toString('hex'); // this instance's own (startCore)
  const username = opts.username ?? 'tester';
  const password = opts.password ?? 'foobar';
  const conf = join(dir, 'kannel.conf');
  const writeConf = () => writeFileSync(conf, `
group = core
admin-port = ${admin}
admin-interface = 127.0.0.1
admin-password = ${adminPassword}
status-password = ${adminPassword}
admin-allow-ip = "127.0.0.1"
smsbox-port = ${smsboxPort}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "${dir}/bearerbox.log"
log-level = 2
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = FAKE
port = ${fakePort}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = ${smsboxPort}
sendsms-port = ${sendsms}
sendsms-interface = 127.0.0.1
log-file = "${dir}/smsbox.log"
log-level = 2
http-request-retry = 3
http-queue-delay = 1

group = sendsms-user
username = ${username}
password = ${password}
user-allow-ip = "127.0.0.1"
max-messages = 10
concatenation = true
`);
  writeConf();
  const procs: ChildProcess[] = [];
  const start = (cmd: string, args: string[], name: string) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
    p.stderr?.on('data', () => {}); // drain
    p.on('error', (err) => console.error(`${name} failed to start`, err));
    procs.push(p);
    return p;
  };
  const status = () => fetch(`http://127.0.0.1:${admin}/status.txt?password=${adminPassword}`).then((r) => r.text());
  await startCore(
    () => start(KANNEL_BIN.bearerbox, [...QUIET, conf], 'bearerbox'),
    () => start(KANNEL_BIN.fakesmsc, [...QUIET, '-H', '127.0.0.1', '-r', String(fakePort), '-i', '1', '-m', '0', '100 200 text hello'], 'fakesmsc'),
    status, procs,
    async () => {
      [admin, smsboxPort, fakePort] = [await freePort(), await freePort(), await freePort()];
      writeConf();
    },
  );
  // A box that could not bind its sendsms port gets another one (the conf is read again by each smsbox).
  await startSmsbox(() => start(KANNEL_BIN.smsbox, [...QUIET, conf], 'smsbox'), () => sendsms, procs, async () => {
    sendsms = await freePort();
    writeConf();
  });

  return {
    url: `http://127.0.0.1:${sendsms}`,
    username,
    password,
    status,
    log: (box: 'bearerbox' | 'smsbox') => readFileSync(join(dir, `${box}.log`), 'utf8'),
    /** bearerbox, fakesmsc and smsbox: their process ids (the bench reads their CPU time). */
    pids: () => procs.map((p) => p.pid!),
    async stop() {
      for (const p of procs.reverse()) {
        if (p.exitCode === null) {
          p.kill('SIGTERM');
          await new Promise((r) => { const t = setTimeout(() => { p.kill('SIGKILL'); r(null); }, 3000); p.once('exit', () => { clearTimeout(t); r(null); }); });
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * bearerbox, then fakesmsc connected to it. bearerbox exits (PANIC "Could not open smsbox port", or the fake SMSC's)
 * when one of its ports was taken between freePort() and its start (seen in a full-suite run: another test's listener
 * had it), and it opens its admin port, which answers the status, before it binds those: a start counts once the fake
 * SMSC is online and bearerbox still runs a moment later. Otherwise both are started again on new ports, at most
 * four times. The status password is this instance's own: another test's Kannel on a port taken twice cannot answer.
 */
async function startCore(spawnBox: () => ChildProcess, spawnFake: () => ChildProcess, status: () => Promise<string>, procs: ChildProcess[], newPorts: () => Promise<void>) {
  const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
  const until = async (ok: () => Promise<boolean>, box: ChildProcess) => {
    for (const deadline = Date.now() + 15_000; alive(box) && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      if (await ok().catch(() => false)) return alive(box);
    }
    return false;
  };
  for (let attempt = 1; ; attempt++) {
    const box = spawnBox();
    let fake: ChildProcess | undefined;
    if (await until(async () => /bearerbox/i.test(await status()), box)) {
      fake = spawnFake();
      if (await until(async () => /FAKE.*online/.test(await status()), box)) {
        await new Promise((r) => setTimeout(r, 200));
        if (alive(box)) return;
      }
    }
    for (const p of [fake, box]) {
      if (!p) continue;
      p.kill('SIGKILL');
      procs.splice(procs.indexOf(p), 1);
    }
    if (attempt >= 4) throw new Error(`bearerbox did not start (exit ${box.exitCode ?? box.signalCode ?? 'none, timed out'}) after ${attempt} attempts`);
    await newPorts();
  }
}

/**
 * smsbox opens its sendsms port before it has read its users, and Kannel 1.4.5 crashes (SIGSEGV in
 * urltrans_find_username, seen once in a CI run) when a request arrives in between: a box that dies while starting
 * is started again, at most four times, and the first request waits a moment after the spawn. One that exits at once
 * could not bind its sendsms port (seen in a CI run: another test's connection had it) and gets a new one.
 */
async function startSmsbox(spawnBox: () => ChildProcess, port: () => number, procs: ChildProcess[], newPort: () => Promise<void>) {
  for (let attempt = 1; ; attempt++) {
    const box = spawnBox();
    const deadline = Date.now() + 15_000;
    await new Promise((r) => setTimeout(r, 300));
    while (box.exitCode === null && box.signalCode === null && Date.now() < deadline) {
      const up = await fetch(`http://127.0.0.1:${port()}/cgi-bin/sendsms`).then((r) => r.status > 0, () => false);
      if (up && box.exitCode === null && box.signalCode === null) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    box.kill('SIGKILL');
    procs.splice(procs.indexOf(box), 1);
    if (attempt >= 4) throw new Error(`smsbox did not start (exit ${box.exitCode ?? box.signalCode ?? 'none, timed out'}) after ${attempt} attempts`);
    if (box.exitCode === 1) await newPort(); // smsbox exits 1 when its sendsms port is taken ("Failed to open HTTP socket")
  }
}

export type Kannel = Awaited<ReturnType<typeof startKannel>>;
