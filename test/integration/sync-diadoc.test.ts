import { afterEach, describe, expect, it } from 'vitest';
import { maskSecrets } from '../../src/config/secrets.js';
import { entityDataSchemas } from '../../src/messages/envelope.js';
import { ExchangeError } from '../../src/errors.js';
import { diadocEvents, type DiadocEventsSettings } from '../../src/sync/providers/diadoc-events.js';
import type { ProviderContext, SyncPage } from '../../src/sync/sync-provider.js';
import { DiadocServer, startDiadocServer, ticksOf, type BoxEventInput, type DiadocServerOptions } from '../support/diadoc-server.js';

const ourBox = '4f2b3c1d-0a9e-4e7f-8b6a-1c2d3e4f5a6b';
const theirBox = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const otherBox = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff';
const apiClientId = 'testClient-8ee1638deae84c86b8e2069955c2825a';
// A token shaped like the docs' example: base64, with / and = in it.
const token = 'Q1XmlMN1Pk8z0DJ51MXkcTi6Q3CO/DCC4xTMsjPFfhK6XM4kC+J4JJ42hlD499==';
const bearer = 'oidc-access-token-4b7c9e2f1a';

const servers: DiadocServer[] = [];
afterEach(async () => { for (const server of servers.splice(0)) await server.close(); });

async function diadoc(options: DiadocServerOptions = {}): Promise<DiadocServer> {
  const server = await startDiadocServer({ apiClientId, tokens: { [token]: [ourBox], [bearer]: [ourBox] }, ...options });
  servers.push(server);
  return server;
}

function settingsFor(server: DiadocServer, extra: Record<string, unknown> = {}): DiadocEventsSettings {
  return diadocEvents.settings.parse({ url: server.url, boxId: ourBox, apiClientId, token, ...extra });
}

const context = { now: () => new Date() } as unknown as ProviderContext;

async function pullAll(cursor: string | null, settings: DiadocEventsSettings): Promise<SyncPage[]> {
  const pages: SyncPage[] = [];
  for await (const page of diadocEvents.pull(cursor, settings, context)) pages.push(page);
  return pages;
}

/** Pulls until the provider throws; returns the pages it gave first and the error. */
async function pullUntilError(cursor: string | null, settings: DiadocEventsSettings): Promise<{ pages: SyncPage[]; error: ExchangeError }> {
  const pages: SyncPage[] = [];
  try {
    for await (const page of diadocEvents.pull(cursor, settings, context)) pages.push(page);
  } catch (error) {
    expect(error).toBeInstanceOf(ExchangeError);
    return { pages, error: error as ExchangeError };
  }
  throw new Error('the pull did not fail');
}

/** An incoming UTD from the counteragent (a new message), then our buyer title and signature (a patch). */
const utdMessage: BoxEventInput = {
  EventId: 'e0000001-0000-4000-8000-000000000001',
  Message: {
    MessageId: 'm0000001-0000-4000-8000-000000000001',
    TimestampTicks: ticksOf('2026-03-02T09:15:30.123Z', 4567n),
    LastPatchTimestampTicks: ticksOf('2026-03-02T09:15:30.123Z', 4567n),
    FromBoxId: theirBox,
    FromTitle: 'ООО «Поставщик»',
    ToBoxId: ourBox,
    ToTitle: 'ООО «Покупатель»',
    MessageType: 'Letter',
    IsDeleted: false,
    LockMode: 'None',
    Entities: [
      {
        EntityType: 'Attachment',
        EntityId: 'd0000001-0000-4000-8000-000000000001',
        AttachmentType: 'UniversalTransferDocument',
        FileName: 'ON_NSCHFDOPPR_1.xml',
        RawCreationDate: ticksOf('2026-03-02T09:15:29.000Z'),
        NeedRecipientSignature: true,
        DocumentInfo: {
          MessageId: 'm0000001-0000-4000-8000-000000000001',
          EntityId: 'd0000001-0000-4000-8000-000000000001',
          CreationTimestampTicks: ticksOf('2026-03-02T09:15:29.000Z'),
          CounteragentBoxId: theirBox,
          TypeNamedId: 'UniversalTransferDocument',
          Function: 'СЧФДОП',
          Version: 'utd970_05_03_01',
          Title: 'УПД №17 от 02.03.2026',
          DocumentNumber: '17',
          DocumentDate: '02.03.2026',
          DocumentDirection: 'Inbound',
        },
      },
      {
        EntityType: 'Signature',
        EntityId: 's0000001-0000-4000-8000-000000000001',
        ParentEntityId: 'd0000001-0000-4000-8000-000000000001',
        SignerBoxId: theirBox,
        RawCreationDate: ticksOf('2026-03-02T09:15:29.500Z'),
      },
    ],
  },
};

const titlePatch: BoxEventInput = {
  EventId: 'e0000002-0000-4000-8000-000000000002',
  Patch: {
    MessageId: 'm0000001-0000-4000-8000-000000000001',
    PatchId: 'p0000002-0000-4000-8000-000000000002',
    TimestampTicks: ticksOf('2026-03-03T12:00:00.000Z'),
    MessageType: 'Letter',
    Entities: [
      {
        EntityType: 'Attachment',
        EntityId: 't0000002-0000-4000-8000-000000000002',
        ParentEntityId: 'd0000001-0000-4000-8000-000000000001',
        AttachmentType: 'Title',
        FileName: 'ON_NSCHFDOPPOK_1.xml',
        RawCreationDate: ticksOf('2026-03-03T11:59:59.000Z'),
      },
    ],
    EntityPatches: [],
  },
};

function generated(count: number, from = 0): BoxEventInput[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const id = String(n).padStart(12, '0');
    return {
      EventId: `e${id.slice(0, 7)}-0000-4000-8000-${id}`,
      Message: {
        MessageId: `m${id.slice(0, 7)}-0000-4000-8000-${id}`,
        TimestampTicks: ticksOf('2026-01-01T00:00:00.000Z') + BigInt(n) * 10_000_000n,
        LastPatchTimestampTicks: ticksOf('2026-01-01T00:00:00.000Z') + BigInt(n) * 10_000_000n,
        FromBoxId: theirBox,
        FromTitle: 'ООО «Поставщик»',
        ToBoxId: ourBox,
        ToTitle: 'ООО «Покупатель»',
        MessageType: 'Letter',
        Entities: [{ EntityType: 'Attachment', EntityId: `d${id.slice(0, 7)}-0000-4000-8000-${id}`, AttachmentType: 'Nonformalized', FileName: `letter-${n}.pdf` }],
      },
    };
  });
}

describe('diadoc-events against the Diadoc stand-in', () => {
  it('reads a box from the start: one record per event, exact, the cursor is the last IndexKey', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, [utdMessage, titlePatch]);
    const pages = await pullAll(null, settingsFor(server));

    expect(pages).toHaveLength(1);
    expect(pages[0].cursor).toBe(server.eventsOf(ourBox)[1].IndexKey);
    expect(pages[0].records).toEqual([
      {
        type: 'edi-event', id: 'e0000001-0000-4000-8000-000000000001', op: 'upsert',
        // 2026-03-02T09:15:30.123Z in .NET ticks plus 4567 ticks: every digit kept (JSON.parse alone rounds it).
        version: '0639080397301234567',
        data: {
          boxId: ourBox, eventId: 'e0000001-0000-4000-8000-000000000001', indexKey: server.eventsOf(ourBox)[0].IndexKey,
          kind: 'message', messageId: 'm0000001-0000-4000-8000-000000000001', patchId: null, messageType: 'Letter',
          timestamp: '2026-03-02T09:15:30.123Z', lastPatchTimestamp: '2026-03-02T09:15:30.123Z',
          fromBoxId: theirBox, fromTitle: 'ООО «Поставщик»', toBoxId: ourBox, toTitle: 'ООО «Покупатель»',
          counteragentBoxId: theirBox, deleted: false,
          documentIds: ['d0000001-0000-4000-8000-000000000001'],
          documentTypes: ['UniversalTransferDocument'],
          entities: [
            {
              entityId: 'd0000001-0000-4000-8000-000000000001', entityType: 'Attachment', attachmentType: 'UniversalTransferDocument',
              fileName: 'ON_NSCHFDOPPR_1.xml', createdAt: '2026-03-02T09:15:29.000Z',
              typeNamedId: 'UniversalTransferDocument', function: 'СЧФДОП', title: 'УПД №17 от 02.03.2026',
              documentNumber: '17', documentDate: '02.03.2026', direction: 'Inbound', counteragentBoxId: theirBox,
            },
            {
              entityId: 's0000001-0000-4000-8000-000000000001', entityType: 'Signature', parentEntityId: 'd0000001-0000-4000-8000-000000000001',
              createdAt: '2026-03-02T09:15:29.500Z', signerBoxId: theirBox,
            },
          ],
          entityPatches: [],
        },
      },
      {
        type: 'edi-event', id: 'e0000002-0000-4000-8000-000000000002', op: 'upsert',
        version: '0639081360000000000',
        data: {
          boxId: ourBox, eventId: 'e0000002-0000-4000-8000-000000000002', indexKey: server.eventsOf(ourBox)[1].IndexKey,
          kind: 'patch', messageId: 'm0000001-0000-4000-8000-000000000001', patchId: 'p0000002-0000-4000-8000-000000000002', messageType: 'Letter',
          timestamp: '2026-03-03T12:00:00.000Z', lastPatchTimestamp: null,
          fromBoxId: null, fromTitle: null, toBoxId: null, toTitle: null,
          counteragentBoxId: null, deleted: false,
          documentIds: ['d0000001-0000-4000-8000-000000000001'],
          documentTypes: [],
          entities: [
            {
              entityId: 't0000002-0000-4000-8000-000000000002', entityType: 'Attachment', attachmentType: 'Title',
              parentEntityId: 'd0000001-0000-4000-8000-000000000001', fileName: 'ON_NSCHFDOPPOK_1.xml', createdAt: '2026-03-03T11:59:59.000Z',
            },
          ],
          entityPatches: [],
        },
      },
    ]);
    // The envelope schema that every message passes (DESIGN §6) takes the data as it is.
    for (const record of pages[0].records) expect(entityDataSchemas['edi-event'].safeParse(record.data).success).toBe(true);
    // One request: a short page is the end of the feed for now.
    expect(server.feedRequests).toHaveLength(1);
    const [request] = server.feedRequests;
    expect(request.method).toBe('GET');
    expect(request.accept).toBe('application/json');
    expect(request.authorization).toBe(`DiadocAuth ddauth_api_client_id=${apiClientId}, ddauth_token=${token}`);
    expect(Object.fromEntries(request.query)).toEqual({ boxId: ourBox, limit: '100' });
  });

  it('pages 100 events at a time with afterIndexKey URL-encoded; each page carries its own last key', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, generated(250));
    const pages = await pullAll(null, settingsFor(server));
    const keys = server.eventsOf(ourBox).map((event) => event.IndexKey);

    expect(pages.map((page) => page.records.length)).toEqual([100, 100, 50]);
    expect(pages.map((page) => page.cursor)).toEqual([keys[99], keys[199], keys[249]]);
    expect(pages.flatMap((page) => page.records.map((record) => record.id))).toEqual(server.eventsOf(ourBox).map((event) => event.EventId));
    expect(server.feedRequests.map((r) => r.query.get('afterIndexKey'))).toEqual([null, keys[99], keys[199]]);
    // The keys hold +, / and =: sent raw, + would arrive as a space (diadocapi-docs issue #1078).
    expect(keys[99]).toMatch(/[+/=]/);
    expect(server.feedRequests[1].rawQuery).not.toMatch(/afterIndexKey=[^&]*[+/=]/);
    expect(server.feedRequests.map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('a feed of exactly two full pages ends at the empty third answer', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, generated(200));
    const pages = await pullAll(null, settingsFor(server));
    expect(pages.map((page) => page.records.length)).toEqual([100, 100]);
    expect(server.feedRequests).toHaveLength(3);
  });

  it('resumes after a saved cursor: only the events after it, then nothing when nothing is new', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, generated(130));
    const first = await pullAll(null, settingsFor(server, { pageSize: 100 }));
    expect(first.map((page) => page.records.length)).toEqual([100, 30]);

    // A crash after the first page was saved: the next run starts at that page's cursor.
    const resumed = await pullAll(first[0].cursor, settingsFor(server));
    expect(resumed.map((page) => page.records.map((r) => r.id))).toEqual([server.eventsOf(ourBox).slice(100).map((e) => e.EventId)]);

    server.addEvents(ourBox, generated(3, 500));
    const next = await pullAll(first[1].cursor, settingsFor(server));
    expect(next.map((page) => page.records.map((r) => r.id))).toEqual([server.eventsOf(ourBox).slice(130).map((e) => e.EventId)]);
    expect(next[0].cursor).toBe(server.eventsOf(ourBox)[132].IndexKey);

    const requestsBefore = server.feedRequests.length;
    expect(await pullAll(next[0].cursor, settingsFor(server))).toEqual([]);
    expect(server.feedRequests.length - requestsBefore).toBe(1);
  });

  it('pageSize is the limit it asks for', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, generated(70));
    const pages = await pullAll(null, settingsFor(server, { pageSize: 30 }));
    expect(pages.map((page) => page.records.length)).toEqual([30, 30, 10]);
    expect(server.feedRequests.map((r) => r.query.get('limit'))).toEqual(['30', '30', '30']);
  });

  it('authorizes with an OpenID Connect access token as Bearer', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, [utdMessage]);
    const pages = await pullAll(null, diadocEvents.settings.parse({ url: server.url, boxId: ourBox, accessToken: bearer }));
    expect(pages[0].records.map((r) => r.id)).toEqual([utdMessage.EventId]);
    expect(server.feedRequests[0].authorization).toBe(`Bearer ${bearer}`);
  });

  it('with login and password, takes a token from /V3/Authenticate first', async () => {
    const server = await diadoc({ logins: { 'edi@example.ru': { password: 'Pa$$w0rd-edi', token } } });
    server.addEvents(ourBox, [utdMessage]);
    const pages = await pullAll(null, diadocEvents.settings.parse({ url: server.url, boxId: ourBox, apiClientId, login: 'edi@example.ru', password: 'Pa$$w0rd-edi' }));
    expect(pages[0].records.map((r) => r.id)).toEqual([utdMessage.EventId]);
    expect(server.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['POST /V3/Authenticate 200', 'GET /V8/GetNewEvents 200']);
    expect(server.feedRequests[0].authorization).toBe(`DiadocAuth ddauth_api_client_id=${apiClientId}, ddauth_token=${token}`);

    const wrong = diadocEvents.settings.parse({ url: server.url, boxId: ourBox, apiClientId, login: 'edi@example.ru', password: 'wrong-password' });
    const { error } = await pullUntilError(null, wrong);
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toMatch(/refused the credentials \(401 Unauthorized\) on Authenticate/);
    expect(error.hint).toMatch(/login and password/);
  });
});

describe('diadoc-events: refusals and outages are SOURCE_UNAVAILABLE (exit 69) saying what to do', () => {
  it('401: a wrong or expired token', async () => {
    const server = await diadoc();
    const { pages, error } = await pullUntilError(null, settingsFor(server, { token: 'expired-token-0000' }));
    expect(pages).toEqual([]);
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.exitCode).toBe(69);
    expect(error.message).toBe(`Diadoc at ${server.url} refused the credentials (401 Unauthorized) on GetNewEvents: ddauth_token is missing, corrupted or expired`);
    expect(error.hint).toMatch(/expired \(Diadoc tokens live 24 hours\)/);
  });

  it('402: the organisation\'s subscription ended', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, [utdMessage]);
    server.endSubscription(ourBox);
    const { error } = await pullUntilError(null, settingsFor(server));
    expect(error.exitCode).toBe(69);
    expect(error.message).toBe(`Diadoc at ${server.url}: the organisation's Diadoc API subscription for box ${ourBox} has ended (402 Payment Required)`);
    expect(error.hint).toMatch(/renew the organisation's Diadoc API subscription/);
  });

  it('403: the user has no access to the box', async () => {
    const server = await diadoc();
    const { error } = await pullUntilError(null, settingsFor(server, { boxId: otherBox }));
    expect(error.exitCode).toBe(69);
    expect(error.message).toBe(`Diadoc at ${server.url}: the user of these credentials lacks access to box ${otherBox} (403 Forbidden): Access to box ${otherBox} is forbidden`);
    expect(error.hint).toMatch(/GetMyOrganizations/);
  });

  it('5xx on the second page: the first page was given (the runner saved it), then the error', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, generated(150));
    const settings = settingsFor(server);
    const pages: SyncPage[] = [];
    let failure: unknown;
    try {
      for await (const page of diadocEvents.pull(null, settings, context)) {
        pages.push(page);
        server.failNext({ status: 503, body: 'Service Unavailable' });
      }
    } catch (error) {
      failure = error;
    }
    expect(pages.map((page) => page.records.length)).toEqual([100]);
    expect(failure).toBeInstanceOf(ExchangeError);
    expect((failure as ExchangeError).message).toBe(`Diadoc at ${server.url} is unavailable (HTTP 503) on GetNewEvents: Service Unavailable`);
    expect((failure as ExchangeError).hint).toMatch(/resumes from the last saved page/);
    // The run after the outage goes on from the saved cursor.
    const rest = await pullAll(pages[0].cursor, settings);
    expect(rest.map((page) => page.records.length)).toEqual([50]);
  });

  it('500 with a body: kept (masked) in the message', async () => {
    const server = await diadoc();
    server.failNext({ status: 500, body: `internal error for token ${token}` });
    const { error } = await pullUntilError(null, settingsFor(server));
    expect(error.message).toBe(`Diadoc at ${server.url} is unavailable (HTTP 500) on GetNewEvents: internal error for token ***`);
  });

  it('a hung request times out', async () => {
    const server = await diadoc();
    server.failNext('hang');
    const started = Date.now();
    const { error } = await pullUntilError(null, settingsFor(server, { timeoutMs: 400 }));
    expect(error.exitCode).toBe(69);
    expect(error.message).toBe(`Diadoc at ${server.url} did not answer GetNewEvents: no answer in 400 ms`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('nothing listening: connection refused', async () => {
    const server = await diadoc();
    const url = server.url;
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const { error } = await pullUntilError(null, diadocEvents.settings.parse({ url, boxId: ourBox, apiClientId, token }));
    expect(error.exitCode).toBe(69);
    expect(error.message).toBe(`Diadoc at ${url} did not answer GetNewEvents: ECONNREFUSED`);
  });

  it('400 on a saved cursor Diadoc does not know: says to reset the sync', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, [utdMessage]);
    const { error } = await pullUntilError('+/unknownKey==', settingsFor(server));
    expect(error.message).toBe(`Diadoc at ${server.url} refused the saved cursor (400 Bad Request) on GetNewEvents: cursor must have valid value`);
    expect(error.hint).toMatch(/exchange sync reset <name>/);
  });
});

describe('diadoc-events settings', () => {
  it('defaults the Diadoc host and 100 a page; takes a GUID box id', () => {
    const settings = diadocEvents.settings.parse({ boxId: ourBox, accessToken: 'a-token-1' });
    expect(settings).toEqual({ url: 'https://diadoc-api.kontur.ru', boxId: ourBox, accessToken: 'a-token-1', pageSize: 100, timeoutMs: 30_000 });
  });

  it('names each problem by key', () => {
    const issues = (input: unknown) => {
      const parsed = diadocEvents.settings.safeParse(input);
      return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(issues({ boxId: ourBox })).toEqual(['accessToken: give accessToken (OpenID Connect), apiClientId and token (DiadocAuth), or apiClientId, login and password']);
    expect(issues({ boxId: 'BOX-1@diadoc.ru', accessToken: 'x-token' })).toEqual(['boxId: the box id as a GUID (BoxIdGuid in GetMyOrganizations)']);
    expect(issues({ boxId: ourBox, token: 'abc-token' })).toEqual(['apiClientId: the developer key (ddauth_api_client_id) is required with token or login']);
    expect(issues({ boxId: ourBox, apiClientId, login: 'edi' })).toEqual(['password: required with login']);
    expect(issues({ boxId: ourBox, accessToken: 'x-token', apiClientId, token: 'abc-token' })).toEqual(['accessToken: give one way to authorize: accessToken, token, or login and password']);
    expect(issues({ boxId: ourBox, accessToken: 'x-token', pageSize: 101 })).toHaveLength(1);
    expect(issues({ boxId: ourBox, accessToken: 'x-token', user: 'x' })).toEqual([': Unrecognized key: "user"']);
  });

  it('registers every credential as a secret when the settings are read', () => {
    diadocEvents.settings.parse({ boxId: ourBox, apiClientId: 'dev-key-5f1e0c', login: 'edi', password: 'S3cret-pass!' });
    diadocEvents.settings.parse({ boxId: ourBox, accessToken: 'eyJhbGciOi.access.token' });
    expect(maskSecrets('key dev-key-5f1e0c pass S3cret-pass! bearer eyJhbGciOi.access.token')).toBe('key *** pass *** bearer ***');
  });
});
