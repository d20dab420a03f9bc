import { Router } from 'express';
import { AppError } from '../platform/errors.js';
import { formBody, str } from '../web/form.js';
import type { EventsService } from './events.service.js';
import { addressKey } from '../platform/ip.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});

/** POST /events: the Bitrix24 lifecycle events we bind at install, and the connection check's ONAPPTEST. */
export function eventsRoutes(deps: { events: EventsService }) {
  const router = Router();

  router.post('/events', formBody, async (req, res) => {
    const body = obj(req.body);
    const auth = obj(body.auth);
    const data = obj(body.data);
    const a = {
      accessToken: str(auth.access_token),
      refreshToken: str(auth.refresh_token),
      expiresIn: Number(str(auth.expires_in)) || undefined,
      applicationToken: str(auth.application_token),
      memberId: str(auth.member_id),
      domain: str(auth.domain),
      clientEndpoint: str(auth.client_endpoint),
      from: addressKey(req.ip),
    };
    const event = str(body.event)?.toUpperCase();
    if (event === 'ONAPPINSTALL' || event === 'ONAPPUPDATE') {
      const outcome = await deps.events.onInstallOrUpdate(event, a);
      return res.json({ status: 'ok', ...outcome });
    }
    if (event === 'ONAPPTEST') {
      // event.test puts the caller's parameters in data[QUERY]; the connection check's nonce is one of them.
      await deps.events.onAppTest(a, str(obj(data.QUERY).check));
      return res.json({ status: 'ok' });
    }
    if (event === 'ONAPPUNINSTALL') {
      await deps.events.onUninstall(a, str(data.CLEAN) === '1');
      return res.json({ status: 'ok' });
    }
    throw new AppError('unsupported_event', 400, `unsupported event: ${event ?? '(none)'}`);
  });

  return router;
}
