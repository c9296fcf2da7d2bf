import { messageIdOf, routingKeyOf, type Envelope } from '../messages/envelope.js';
import type { Outgoing } from './publisher.js';

/** An envelope as it goes on the wire (DESIGN §6): JSON, persistent, message-id `<type>:<id>:<version>`. */
export function envelopeMessage(envelope: Envelope, exchange: string, body?: string | Buffer): Outgoing {
  return {
    exchange,
    routingKey: routingKeyOf(envelope),
    body: Buffer.isBuffer(body) ? body : Buffer.from(body ?? JSON.stringify(envelope)),
    options: {
      contentType: 'application/json',
      persistent: true,
      messageId: messageIdOf(envelope),
      timestamp: Math.floor(Date.now() / 1000),
      type: envelope.type,
      appId: 'exchange',
    },
  };
}
