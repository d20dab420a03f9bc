import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestContext } from './helpers/app.js';

describe('GET /healthz', () => {
  it('answers ok while the database answers, 503 when it does not', async () => {
    const ctx = await createTestContext();
    expect((await request(ctx.app).get('/healthz')).body).toEqual({ status: 'ok' });
    await ctx.close();
    const res = await request(ctx.app).get('/healthz');
    expect(res.status).toBe(503);
  });
});
