import { z } from 'zod';
import { registerSecret } from '../../config/secrets.js';
import { ExchangeError } from '../../errors.js';
import type { SyncPage, SyncProvider } from '../sync-provider.js';
import { DiadocClient, type DiadocAuth } from './diadoc-client.js';
import { eventRecord } from './diadoc-event-record.js';

const guid = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const secret = z.string().min(1);

/**
 * Settings of one box's feed. Credentials, one of: `accessToken` (OpenID Connect, sent as `Bearer`, the scheme
 * Diadoc recommends), `apiClientId` + `token` (the older `DiadocAuth` header), or `apiClientId` + `login` +
 * `password` (each run takes a fresh DiadocAuth token from /V3/Authenticate: tokens live 24 hours, a cron job
 * longer). Every credential is registered as a secret as soon as the settings are read, so no log line, error
 * or `exchange config` shows it.
 */
export const diadocEventsSettings = z.strictObject({
  url: z.string().url().default('https://diadoc-api.kontur.ru'),
  boxId: z.string().regex(guid, 'the box id as a GUID (BoxIdGuid in GetMyOrganizations)'),
  accessToken: secret.optional(),
  apiClientId: secret.optional(),
  token: secret.optional(),
  login: secret.optional(),
  password: secret.optional(),
  /** Events a request asks for: Diadoc gives at most 100. */
  pageSize: z.number().int().min(1).max(100).default(100),
  timeoutMs: z.number().int().positive().default(30_000),
}).superRefine((settings, ctx) => {
  for (const value of [settings.accessToken, settings.apiClientId, settings.token, settings.password]) registerSecret(value);
  const schemes = [settings.accessToken !== undefined, settings.token !== undefined, settings.login !== undefined || settings.password !== undefined].filter(Boolean).length;
  if (schemes === 0) {
    ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'give accessToken (OpenID Connect), apiClientId and token (DiadocAuth), or apiClientId, login and password' });
  } else if (schemes > 1) {
    ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'give one way to authorize: accessToken, token, or login and password' });
  } else if (settings.accessToken === undefined) {
    if (settings.apiClientId === undefined) ctx.addIssue({ code: 'custom', path: ['apiClientId'], message: 'the developer key (ddauth_api_client_id) is required with token or login' });
    if (settings.token === undefined && settings.login === undefined) ctx.addIssue({ code: 'custom', path: ['login'], message: 'required with password' });
    if (settings.token === undefined && settings.password === undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'required with login' });
  }
});
export type DiadocEventsSettings = z.infer<typeof diadocEventsSettings>;

function authOf(settings: DiadocEventsSettings): DiadocAuth {
  if (settings.accessToken !== undefined) return { scheme: 'bearer', accessToken: settings.accessToken };
  if (settings.token !== undefined) return { scheme: 'diadoc', apiClientId: settings.apiClientId!, token: settings.token };
  return { scheme: 'login', apiClientId: settings.apiClientId!, login: settings.login!, password: settings.password! };
}

/**
 * Kontur.Diadoc's event feed of one box (GET /V8/GetNewEvents): every event of the box, oldest first, 100 a
 * page, each an `edi-event` record; the cursor is the last event's IndexKey, which the next request passes
 * as `afterIndexKey`. A short page is the end of the feed for now.
 */
export const diadocEvents: SyncProvider<DiadocEventsSettings> = {
  name: 'diadoc-events',
  description: 'Kontur.Diadoc: the event feed of one box (GetNewEvents V8) as edi-event records',
  settings: diadocEventsSettings,
  stateVersion: 1,
  async *pull(cursor, settings, context): AsyncIterable<SyncPage> {
    const client = new DiadocClient({ url: settings.url, boxId: settings.boxId, auth: authOf(settings), timeoutMs: settings.timeoutMs });
    let after = cursor;
    for (;;) {
      if (context.signal?.aborted) return;
      const list = await client.getNewEvents(after, settings.pageSize);
      const events = list.Events ?? [];
      if (events.length === 0) return;
      const last = events[events.length - 1].IndexKey;
      if (!last) {
        throw new ExchangeError('SOURCE_UNAVAILABLE', `Diadoc sent event ${events[events.length - 1].EventId} without an IndexKey: the feed cannot go on from it`, {
          hint: 'the url must be a Diadoc API host answering GetNewEvents V8',
        });
      }
      yield { records: events.map((event) => eventRecord(event, settings.boxId)), cursor: last };
      if (events.length < settings.pageSize) return;
      after = last;
    }
  },
};
