/**
 * Secret masking (DESIGN §4). Every string that reaches a terminal, a log or the run journal
 * goes through maskSecrets; the known secret values are registered once the config is loaded,
 * and URL passwords are masked by shape even before that.
 */
const MASK = '***';
const knownSecrets = new Set<string>();

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 3) knownSecrets.add(value);
}

export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = MASK;
    let text = parsed.toString();
    // A Bitrix24 incoming webhook carries its secret as the path segment after the user id.
    text = text.replace(/(\/rest\/\d+\/)[^/]+/, `$1${MASK}`);
    return url.endsWith('/') || !text.endsWith('/') ? text : text.slice(0, -1);
  } catch {
    return maskSecrets(url);
  }
}

export function maskSecrets(text: string): string {
  let masked = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)([^@\s/]+)@/gi, `$1${MASK}@`);
  masked = masked.replace(/(\/rest\/\d+\/)[A-Za-z0-9]{6,}/g, `$1${MASK}`);
  for (const secret of knownSecrets) masked = masked.split(secret).join(MASK);
  return masked;
}

/** Registers the secrets found in a URL: its password, and a webhook's code. */
export function registerUrlSecrets(url: string | undefined): void {
  if (!url) return;
  try {
    const parsed = new URL(url);
    if (parsed.password) registerSecret(decodeURIComponent(parsed.password));
    const webhook = /\/rest\/\d+\/([^/]+)/.exec(parsed.pathname);
    if (webhook) registerSecret(webhook[1]);
  } catch {
    // not a URL: nothing to learn from it
  }
}
