import net from 'node:net';

/**
 * A TCP proxy for crash tests. The first `forward` connections reach the target but their replies are
 * swallowed (the request arrived, the answer is lost); later ones are held and never forwarded at all.
 */
export async function startSwallowingProxy(target: { host: string; port: number }, forward: number) {
  const sockets = new Set<net.Socket>();
  let seen = 0;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    if (seen++ >= forward) return; // blackholed: read and never forwarded
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('error', () => {});
    client.pipe(upstream);
    upstream.on('data', () => {}); // the reply is swallowed
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    get connections() {
      return seen;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
