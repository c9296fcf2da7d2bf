/**
 * What a body from 1C's OData publication says (facts: ../shared/realdata/facts/1c-odata.md §3, §4). 1C answers
 * in several shapes: the collection, an OData error (`{"odata.error": {code, message: {lang, value}}}` in JSON,
 * `<m:error>` in Atom), the platform's own exception JSON (`{"#exception": …, "exception": {reason, descr}}`,
 * with a BOM) and, from the web server or the platform, HTML pages ("1C:Enterprise 8 application error …"),
 * even with status 200 on some authentication problems.
 */
export type OneCBody =
  | { kind: 'collection'; value: Array<Record<string, unknown>>; code?: undefined; message?: undefined }
  | { kind: 'error' | 'html' | 'other'; code?: string; message: string; value?: undefined };

export function readOneCBody(raw: string, contentType: string | null): OneCBody {
  const text = raw.replace(/^\uFEFF/, '').trim();
  if (text.startsWith('{') || text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { kind: 'other', message: `a broken JSON body: ${snippet(text)}` };
    }
    const body = (parsed ?? {}) as Record<string, unknown>;
    if (Array.isArray(body.value)) return { kind: 'collection', value: body.value as Array<Record<string, unknown>> };
    const odataError = body['odata.error'] as { code?: unknown; message?: { value?: unknown } | string } | undefined;
    if (odataError) {
      const message = typeof odataError.message === 'string' ? odataError.message : String(odataError.message?.value ?? '');
      return { kind: 'error', code: odataError.code === undefined ? undefined : String(odataError.code), message };
    }
    const exception = body.exception as { reason?: unknown; descr?: unknown } | undefined;
    if (exception || '#exception' in body) {
      return { kind: 'error', code: exception?.reason === undefined ? undefined : String(exception.reason), message: String(exception?.descr ?? snippet(text)) };
    }
    return { kind: 'other', message: `JSON without a "value" list: ${snippet(text)}` };
  }
  if (/<m:error|<error[\s>]/i.test(text)) {
    const code = /<(?:m:)?code>([^<]*)</i.exec(text)?.[1];
    const message = /<(?:m:)?message[^>]*>([^<]*)</i.exec(text)?.[1] ?? snippet(text);
    return { kind: 'error', code: code?.trim(), message: decodeEntities(message.trim()) };
  }
  if (/<html|<!doctype html/i.test(text) || /text\/html/i.test(contentType ?? '')) {
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text)?.[1]?.trim();
    const bodyText = decodeEntities(text.replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();
    const message = title && !bodyText.startsWith(title) ? `${title}: ${bodyText}` : bodyText || title || 'an empty HTML page';
    return { kind: 'html', message: snippet(message) };
  }
  if (text.startsWith('<')) return { kind: 'other', message: `XML instead of JSON (was $format=json ignored?): ${snippet(text)}` };
  return { kind: 'other', message: text === '' ? '' : snippet(text) };
}

/** One line for sync_state and the log: the status, what 1C said, and (for codes 1C documents) what it means. */
export function describeOneCFailure(where: string, entity: string, status: number, body: OneCBody): string {
  const said = body.message ? `: ${body.code !== undefined ? `[${body.code}] ` : ''}${body.message}` : '';
  if (status === 401) return `${where} refused the credentials for ${entity} (HTTP 401${said})`;
  if (status === 403) return `${where} forbids reading ${entity} (HTTP 403${said})`;
  if (status >= 400) return `${where} failed reading ${entity} (HTTP ${status}${said})`;
  if (body.kind === 'html') return `${where} answered ${entity} with an HTML page instead of JSON (HTTP ${status}: ${body.message}); 1C does this on some authentication problems`;
  return `${where} answered ${entity} with something that is not an OData collection (HTTP ${status}${said || ': an empty body'})`;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&amp;/g, '&');
}
