/**
 * The service as an operator runs it: `npm start` (or `npm run worker`) as its own processes, on a database where a
 * portal was installed through the install page beforehand, talking to the fake Bitrix24 and a gateway over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { installedPortal, type InstalledPortalOptions } from './installed-portal.js';
import { TEST_SECRET_KEY } from './app.js';
import { eventually } from './wait.js';
import { freePort } from './free-port.js';

export { freePort };

/** A process and its descendants, by pid (Linux /proc). */
export function processTree(rootPid: number): number[] {
  const pids = [rootPid];
  for (let i = 0; i < pids.length; i++) {
    try {
      const children = readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8').trim();
      if (children) pids.push(...children.split(/\s+/).map(Number));
    } catch { /* gone */ }
  }
  return pids;
}

/** Resident memory of each node process in a process tree, in MB (Linux /proc); npm and sh wrappers are left out. */
export function nodeRssMb(rootPid: number): number[] {
  const out: number[] = [];
  for (const pid of processTree(rootPid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node') out.push(Number(m[1]) / 1024);
    } catch { /* gone */ }
  }
  return out;
}

/** CPU time (user + system) a process has used so far, in seconds (Linux /proc; clock ticks of 10 ms); 0 once gone. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Waits until no process of the group is left (npm may exit before the node processes it started), at most 15 s. */
async function groupGone(pgid: number) {
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
}

export async function startServiceProcess(o: InstalledPortalOptions & { serviceEnv?: Record<string, string>; nodeArgs?: string[]; cwd?: string }) {
  const base = await installedPortal({ ...o, listening: true });
  const { fake, fp, ctx } = base;
  const procs: ChildProcess[] = [];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, // its gateways' reports come to it
    DATABASE_URL: ctx.config.DATABASE_URL, ...(ctx.dbSchema ? { DATABASE_SCHEMA: ctx.dbSchema } : {}),
    SECRET_KEY: TEST_SECRET_KEY, B24_CLIENT_ID: fake.clientId, B24_CLIENT_SECRET: fake.clientSecret, B24_OAUTH_URL: fake.oauthUrl,
    SMSRU_API_URL: ctx.config.SMSRU_API_URL, ALLOW_PRIVATE_GATEWAYS: '1', ALLOW_PRIVATE_PORTALS: '1', LOG_LEVEL: 'info',
    ...o.env, ...o.serviceEnv,
  };
  /** `npm start` / `npm run worker`, in its own process group. */
  function run(script: 'start' | 'worker', extra: Record<string, string> = {}) {
    // With nodeArgs (a profile, say) node runs the entry point itself, as tsx would.
    const [cmd, args] = o.nodeArgs
      ? [process.execPath, [...o.nodeArgs, '--import', 'tsx', script === 'start' ? 'src/main.ts' : 'src/worker-main.ts']]
      : ['npm', script === 'start' ? ['start'] : ['run', 'worker']];
    const p = spawn(cmd, args, { env: { ...env, ...extra }, stdio: ['ignore', 'ignore', 'inherit'], detached: true, cwd: o.cwd });
    procs.push(p);
    return p;
  }
  const up = () => eventually(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true, 'npm start to answer', 60_000);
  const web = run('start');
  await up();
  const handler = new URL([...fp.senders.values()][0]!.HANDLER);
  return {
    ...base,
    url,
    handlerUrl: `${url}${handler.pathname}${handler.search}`,
    web,
    run,
    /** Resolves when `npm start` answers on its port. */
    up,
    /** Signals the process and everything it started (npm, node, the background process), and waits for it to end. */
    async kill(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
      try { process.kill(-p.pid!, signal); } catch { /* gone */ }
      await groupGone(p.pid!);
    },
    async close() {
      for (const p of procs) {
        try { process.kill(-p.pid!, 'SIGTERM'); } catch { continue; /* gone */ }
        await groupGone(p.pid!);
      }
      await base.close();
    },
  };
}
