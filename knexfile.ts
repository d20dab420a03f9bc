// For the knex CLI (`npx knex --knexfile knexfile.ts migrate:status`); the app migrates itself on start.
import { knexConfig } from './src/platform/db.js';

export default knexConfig(process.env.DATABASE_URL || 'data/app.sqlite');
