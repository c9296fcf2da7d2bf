import { Header, numberHeader } from '../amqp/failure-headers.js';
import { headerText, strictUtf8, type InspectedMessage } from './dlq-filter.js';

/**
 * A dead-lettered message as `replay-dlq` lists it (one JSON line each with --json): the failure headers up front
 * for a human, then everything needed to rebuild the message: all headers, all properties and the body, as text
 * when it is UTF-8 JSON (`bodyEncoding: "utf8"`), else base64 (`bodyEncoding: "base64"`), so the bytes survive.
 */
export interface DeadLetterView {
  queue: string;
  messageId?: string;
  id?: string;
  attempts: number;
  replays: number;
  errorCode?: string;
  error?: string;
  failedAt?: string;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  body: string;
  bodyEncoding: 'utf8' | 'base64';
}

export function deadLetterView(queue: string, inspected: InspectedMessage): DeadLetterView {
  const { message } = inspected;
  const { headers = {}, ...properties } = message.properties;
  const text = (name: string) => headerText(headers[name]);
  return {
    queue,
    messageId: message.properties.messageId,
    id: inspected.entityId,
    attempts: numberHeader(message, Header.attempts),
    replays: numberHeader(message, Header.replays),
    errorCode: text(Header.errorCode),
    error: text(Header.error),
    failedAt: text(Header.failedAt),
    headers: plain(headers) as Record<string, unknown>,
    properties: plain(Object.fromEntries(Object.entries(properties).filter(([, value]) => value !== undefined && value !== null))) as Record<string, unknown>,
    ...(inspected.isJson ? { body: strictUtf8(message.content), bodyEncoding: 'utf8' as const } : { body: message.content.toString('base64'), bodyEncoding: 'base64' as const }),
  };
}

/** AMQP field values as JSON: byte arrays as `{"base64": …}` (they need not be text), dates as ISO strings. */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  return value;
}
