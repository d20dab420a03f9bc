import { onShutdown } from '../boot.js';
import { createLogger } from '../platform/logger.js';
import { startDemo } from './demo.js';

// `npm run demo`: no configuration, nothing outside 127.0.0.1, its own database (data/demo.sqlite); prints one address.
const log = createLogger('warn');
const demo = await startDemo({ log });
process.stdout.write(
  [
    '',
    '  Bitrix24 SMS provider: demo (a simulated Bitrix24 and the sandbox gateway: nothing is really sent)',
    '',
    `  Open ${demo.url}`,
    '',
    `  Operator console password: ${demo.adminPassword}`,
    '  Ctrl+C stops the demo.',
    '',
    '',
  ].join('\n'),
);
onShutdown(log, demo.close);
