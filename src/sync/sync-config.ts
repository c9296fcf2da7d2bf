import type { ExchangeConfig } from '../config/schema.js';
import { registerSecret, registerUrlSecrets } from '../config/secrets.js';
import { providerNamed, providers } from './providers/registry.js';

/**
 * Checks every `syncs.<name>` against its provider: the provider must be registered, and the settings must
 * pass the provider's own schema. Returns the problems as `path: message` lines (exit 78 when any), and puts
 * the parsed settings (with the provider's defaults) in place of the raw ones.
 */
export function checkSyncProviders(config: ExchangeConfig): string[] {
  const problems: string[] = [];
  for (const [name, sync] of Object.entries(config.syncs)) {
    const provider = providerNamed(sync.provider);
    if (!provider) {
      const known = providers.map((p) => p.name).join(', ') || 'none is registered';
      problems.push(`syncs.${name}.provider: unknown provider "${sync.provider}" (known: ${known})`);
      continue;
    }
    const parsed = provider.settings.safeParse(sync.settings);
    if (parsed.success) {
      sync.settings = parsed.data as Record<string, unknown>;
      registerSettingSecrets(sync.settings);
      continue;
    }
    for (const issue of parsed.error.issues) {
      const base = ['syncs', name, 'settings', ...issue.path.map(String)].join('.');
      if (issue.code === 'unrecognized_keys') problems.push(...issue.keys.map((key) => `${base}.${key}: unknown key`));
      else problems.push(`${base}: ${issue.message}`);
    }
  }
  return problems;
}

/** Passwords, tokens and keys in settings, and passwords in URLs, are masked in every line like the config's own. */
function registerSettingSecrets(settings: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value !== 'string') continue;
    if (/password|secret|token|apikey|api_key|authorization/i.test(key)) registerSecret(value);
    if (/^https?:\/\//.test(value)) registerUrlSecrets(value);
  }
}
