import { spawn } from 'node:child_process';

/** What one run of bench/load.ts reports (its last line): requests, seconds, errors, latencies in ms, its own CPU. */
export type Load = { total: number; elapsed: number; errors: number; p50: number; p99: number; cpuS: number };

/** Runs bench/load.ts in its own process with `args` (see its header) and resolves with its report. */
export function runLoad(args: string[]): Promise<Load> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`load exited ${code}`))));
  });
}
