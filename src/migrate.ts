import { loadConfig } from './platform/config.js';
import { createDb, migrate } from './platform/db.js';

const config = loadConfig();
const db = createDb(config.DATABASE_URL, { schema: config.DATABASE_SCHEMA });
await migrate(db);
await db.destroy();
console.log('migrations applied');
