import { Agent, buildConnector, type Dispatcher } from 'undici';
import { guardedConnect, type SmppConnect } from '../gateways/smpp/connect.js';

/** Refused before any name is looked up: the demo's outbound connections never leave this machine. */
export const DEMO_OFFLINE = 'DEMO_OFFLINE';

const offline = (host: string) => Object.assign(new Error(`the demo reaches 127.0.0.1 only, not ${host}`), { code: DEMO_OFFLINE });

/**
 * The demo's dispatcher for everything the service calls over HTTP (the simulated Bitrix24, its own delivery reports,
 * and whatever gateway a visitor picks on the install form): 127.0.0.1 only. An SMS.ru key or a Kannel address typed
 * into the demo fails as "could not be reached" instead of reaching the internet.
 */
export function loopbackOnlyDispatcher(): Dispatcher {
  const connect = buildConnector({ timeout: 5_000 });
  return new Agent({
    connect: (opts, callback) => {
      if (opts.hostname !== '127.0.0.1') return callback(offline(opts.hostname), null);
      connect(opts, callback);
    },
  });
}

/** The same rule for SMPP sessions, which connect over plain TCP. */
export const loopbackOnlySmpp = (): SmppConnect =>
  guardedConnect(async (host) => {
    if (host !== '127.0.0.1') throw offline(host);
    return host;
  });
