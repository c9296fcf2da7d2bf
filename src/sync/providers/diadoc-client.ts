import { maskSecrets } from '../../config/secrets.js';
import { ExchangeError, describeCause } from '../../errors.js';

/**
 * The little of Kontur.Diadoc's HTTP API the event feed needs: GET /V8/GetNewEvents (JSON) and, for
 * login/password settings, POST /V3/Authenticate. Every refusal of the source is SOURCE_UNAVAILABLE (exit 69)
 * with what to do; the token never reaches a message (registered as a secret, and never interpolated).
 */
export type DiadocAuth =
  | { scheme: 'bearer'; accessToken: string }
  | { scheme: 'diadoc'; apiClientId: string; token: string }
  | { scheme: 'login'; apiClientId: string; login: string; password: string };

export interface DiadocClientOptions {
  url: string;
  boxId: string;
  auth: DiadocAuth;
  timeoutMs: number;
}

/** The JSON of BoxEventList (OpenAPI components.schemas.BoxEventList); tick fields kept as decimal strings. */
export interface BoxEventList {
  Events?: BoxEvent[];
  TotalCount?: number;
  TotalCountType?: string;
}

export interface BoxEvent {
  EventId: string;
  IndexKey?: string;
  Message?: Record<string, unknown>;
  Patch?: Record<string, unknown>;
}

export class DiadocClient {
  private readonly base: string;
  private token?: string;

  constructor(private readonly options: DiadocClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /** One page of the box's feed after `afterIndexKey` (null: from the start of its history). */
  async getNewEvents(afterIndexKey: string | null, limit: number): Promise<BoxEventList> {
    const query = new URLSearchParams({ boxId: this.options.boxId });
    // URLSearchParams encodes the key's +, / and = (the docs: "должен быть закодирован в URL-формат").
    if (afterIndexKey !== null) query.set('afterIndexKey', afterIndexKey);
    query.set('limit', String(limit));
    const what = 'GetNewEvents';
    const { status, text } = await this.send(what, 'GET', `/V8/GetNewEvents?${query}`, {
      accept: 'application/json',
      authorization: await this.authorization(),
    });
    if (status !== 200) throw this.refusal(what, status, text, afterIndexKey !== null);
    try {
      return JSON.parse(quoteTicks(text)) as BoxEventList;
    } catch (error) {
      throw new ExchangeError('SOURCE_UNAVAILABLE', maskSecrets(`Diadoc at ${this.base} answered ${what} with a body that is not JSON: ${excerpt(text)}`), {
        hint: 'check syncs.<name>.settings.url: it must be the Diadoc API host (https://diadoc-api.kontur.ru)',
        cause: error,
      });
    }
  }

  private async authorization(): Promise<string> {
    const auth = this.options.auth;
    if (auth.scheme === 'bearer') return `Bearer ${auth.accessToken}`;
    if (auth.scheme === 'diadoc') return diadocAuth(auth.apiClientId, auth.token);
    this.token ??= await this.authenticate(auth);
    return diadocAuth(auth.apiClientId, this.token);
  }

  /** POST /V3/Authenticate?type=password: the token of a login (a day's worth: each run takes a fresh one). */
  private async authenticate(auth: Extract<DiadocAuth, { scheme: 'login' }>): Promise<string> {
    const what = 'Authenticate';
    const { status, text } = await this.send(what, 'POST', '/V3/Authenticate?type=password', {
      'content-type': 'application/json',
      authorization: `DiadocAuth ddauth_api_client_id=${auth.apiClientId}`,
    }, JSON.stringify({ login: auth.login, password: auth.password }));
    if (status !== 200) throw this.refusal(what, status, text, false);
    const token = text.trim();
    if (!token) throw new ExchangeError('SOURCE_UNAVAILABLE', `Diadoc at ${this.base} answered ${what} without a token`);
    return token;
  }

  private async send(what: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
    try {
      const response = await fetch(`${this.base}${path}`, { method, headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      const cause = error as Error & { cause?: { code?: string } };
      const timedOut = cause.name === 'TimeoutError' || cause.name === 'AbortError';
      const reason = timedOut ? `no answer in ${this.options.timeoutMs} ms` : cause.cause?.code ?? (cause.cause as Error | undefined)?.message ?? describeCause(error);
      throw new ExchangeError('SOURCE_UNAVAILABLE', maskSecrets(`Diadoc at ${this.base} did not answer ${what}: ${reason}`), {
        hint: 'check syncs.<name>.settings.url and the network; the next run resumes from the last saved page',
        cause: error,
      });
    }
  }

  private refusal(what: string, status: number, text: string, withCursor: boolean): ExchangeError {
    const box = this.options.boxId;
    const said = text.trim() ? `: ${excerpt(text)}` : '';
    const at = `Diadoc at ${this.base}`;
    let message: string;
    let hint: string;
    if (status === 401) {
      message = `${at} refused the credentials (401 Unauthorized) on ${what}${said}`;
      hint = this.options.auth.scheme === 'login'
        ? 'check apiClientId (the developer key), login and password in syncs.<name>.settings'
        : 'the token is wrong or expired (Diadoc tokens live 24 hours): put a fresh one in syncs.<name>.settings, or give login and password so each run authenticates itself';
    } else if (status === 402) {
      message = `${at}: the organisation's Diadoc API subscription for box ${box} has ended (402 Payment Required)`;
      hint = 'renew the organisation\'s Diadoc API subscription with Kontur; the next run resumes from the last saved page';
    } else if (status === 403) {
      message = `${at}: the user of these credentials lacks access to box ${box} (403 Forbidden)${said}`;
      hint = 'check syncs.<name>.settings.boxId (GetMyOrganizations lists the user\'s boxes), or give the user access to all documents of that box in Diadoc';
    } else if (status === 400 && withCursor) {
      message = `${at} refused the saved cursor (400 Bad Request) on ${what}${said}`;
      hint = 'the saved IndexKey is not one of this box\'s (was boxId changed?): `exchange sync reset <name>` reads the box from the start';
    } else if (status >= 500) {
      message = `${at} is unavailable (HTTP ${status}) on ${what}${said}`;
      hint = 'try later; the next run resumes from the last saved page';
    } else {
      message = `${at} refused ${what} (HTTP ${status})${said}`;
      hint = 'check syncs.<name>.settings (url, boxId)';
    }
    return new ExchangeError('SOURCE_UNAVAILABLE', maskSecrets(message), { hint });
  }
}

function diadocAuth(apiClientId: string, token: string): string {
  return `DiadocAuth ddauth_api_client_id=${apiClientId}, ddauth_token=${token}`;
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/**
 * .NET ticks are int64 JSON integers past 2^53: JSON.parse would round them (by up to 64 ticks, enough to move
 * a time across a millisecond). Quoting them first keeps every digit. A key inside a JSON string has its
 * quotes escaped (`\"`), so only real keys match.
 */
export function quoteTicks(json: string): string {
  return json.replace(/"(\w*Ticks|RawCreationDate)"(\s*):(\s*)(-?\d+)/g, '"$1"$2:$3"$4"');
}
