import type { Response } from 'express';
import type { Clock } from '../platform/clock.js';
import type { LogEntry, LogFilter, LogRepo } from './log-repo.js';
import { maskRecipient } from './phone.js';

/**
 * One CSV cell. Spreadsheets run a cell that starts with = + - @, tab or CR as a formula (CSV injection): such a
 * cell gets a leading apostrophe, except a plain phone number ("+79991234567", or masked "+•••4567"), which is
 * no formula. A cell holding a quote, comma, semicolon, CR or LF is quoted.
 */
export function csvCell(v: unknown): string {
  const s = String(v ?? '');
  const formula = /^[=+\-@\t\r]/.test(s) && !/^\+[0-9•]+$/.test(s);
  const text = formula ? `'${s}` : s;
  return /[",;\r\n]/.test(text) || formula ? `"${text.replace(/"/g, '""')}"` : text;
}

const HEADER = ['time_utc', 'recipient', 'sender', 'segments', 'status', 'reason', 'test'];

function line(e: LogEntry, full: boolean): string {
  return [new Date(e.createdAt).toISOString(), full ? e.to : maskRecipient(e.to), e.sender, e.segments, e.state, e.reason, e.isTest ? 1 : 0].map(csvCell).join(',');
}

/**
 * Writes the CSV a page of rows at a time, waiting for the client to drain: memory stays bounded by one page. A
 * client that stops reading and goes away ends the export ('drain' never comes after 'close').
 */
export async function streamCsv(res: Response, logs: LogRepo, portalId: number, filter: LogFilter, full: boolean): Promise<void> {
  let closed = false;
  let wake: (() => void) | undefined;
  res.once('close', () => {
    closed = true;
    wake?.();
  });
  const write = (chunk: string) => {
    if (closed || res.write(chunk)) return Promise.resolve();
    return new Promise<void>((r) => {
      wake = r;
      res.once('drain', r);
    }).finally(() => (wake = undefined));
  };
  await write('\uFEFF' + HEADER.join(',') + '\r\n');
  for await (const rows of logs.each(portalId, filter)) {
    if (closed) return;
    await write(rows.map((e) => line(e, full) + '\r\n').join(''));
  }
  res.end();
}

/**
 * Exports per portal: one at a time and a few per minute, so one portal cannot keep the database busy with them.
 * In-process: with several web processes each allows as much.
 */
export function createExportGate(opts: { perMinute: number; clock: Clock }) {
  const recent = new Map<number, number[]>();
  const running = new Set<number>();

  /** A release function, or the seconds to wait. */
  function enter(portalId: number): { ok: true; release: () => void } | { ok: false; retryAfterS: number } {
    const now = opts.clock();
    const times = (recent.get(portalId) ?? []).filter((t) => now - t < 60_000);
    if (running.has(portalId)) return { ok: false, retryAfterS: 5 };
    if (times.length >= opts.perMinute) return { ok: false, retryAfterS: Math.max(1, Math.ceil((times[0]! + 60_000 - now) / 1000)) };
    times.push(now);
    recent.set(portalId, times);
    running.add(portalId);
    // Forget portals whose window has passed, so the map stays as small as the set of recent exporters.
    for (const [id, ts] of recent) if (ts.every((t) => now - t >= 60_000)) recent.delete(id);
    return { ok: true, release: () => running.delete(portalId) };
  }

  return { enter };
}
