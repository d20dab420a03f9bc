import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestContext } from './app.js';

/**
 * The app listening on 127.0.0.1 for peers that call back over HTTP (Bitrix24's queue, Kannel's DLRs,
 * SMS.ru callbacks). PUBLIC_URL is that address, so the URLs registered everywhere point at it.
 */
export async function createListeningContext(opts: Parameters<typeof createTestContext>[0] = {}) {
  const server = http.createServer();
  server.keepAliveTimeout = 2000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const publicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ctx = await createTestContext({ ...opts, env: { PUBLIC_URL: publicUrl, ...opts.env } });
  server.on('request', ctx.app);
  return {
    ...ctx,
    publicUrl,
    /** The listening server itself, for tests that watch a response from the server's side. */
    server,
    close: async () => {
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      await ctx.close();
    },
  };
}

export type ListeningContext = Awaited<ReturnType<typeof createListeningContext>>;
