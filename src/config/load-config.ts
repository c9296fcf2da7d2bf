import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { ExchangeError } from '../errors.js';
import { configSchema, type ExchangeConfig } from './schema.js';
import { checkSyncProviders } from '../sync/sync-config.js';
import { registerSecret, registerUrlSecrets } from './secrets.js';

export interface LoadedConfig {
  config: ExchangeConfig;
  /** The file the config came from, or undefined when only defaults and environment apply. */
  filepath?: string;
  /** Where a relative sqlite path is resolved from. */
  baseDir: string;
}

export interface LoadConfigOptions {
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const searchPlaces = ['package.json', '.exchangerc', '.exchangerc.json', '.exchangerc.yaml', '.exchangerc.yml', 'exchange.config.js', 'exchange.config.mjs', 'exchange.config.cjs'];

/** Defaults < file < environment. Flags are applied by the command that owns them. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explorer = cosmiconfig('exchange', { searchPlaces, searchStrategy: 'none' });
  const explicitPath = options.configPath ?? env.EXCHANGE_CONFIG;

  let found: { config: unknown; filepath: string } | null;
  try {
    found = explicitPath ? await explorer.load(path.resolve(cwd, explicitPath)) : await explorer.search(cwd);
  } catch (error) {
    const message = (error as Error).message;
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ExchangeError('CONFIG', missing ? `config file not found: ${explicitPath}` : `cannot read the config file: ${message}`, {
      hint: missing ? 'check --config or EXCHANGE_CONFIG' : 'fix the syntax of the file',
      cause: error,
      details: missing ? [`config: file ${explicitPath} does not exist`] : [`config: ${message.split('\n')[0]}`],
    });
  }

  const fileConfig = (found?.config ?? {}) as Record<string, unknown>;
  if (typeof fileConfig !== 'object' || fileConfig === null || Array.isArray(fileConfig)) {
    throw new ExchangeError('CONFIG', 'the config file must hold an object', { details: ['(root): expected an object'] });
  }
  const merged = applyEnvironment(structuredClone(fileConfig), env);
  const config = parseConfig(merged);
  registerUrlSecrets(config.amqp.url);
  registerUrlSecrets(config.amqp.managementUrl);
  registerUrlSecrets(config.recordStore.url);
  registerUrlSecrets(config.crm.webhookUrl);
  registerUrlSecrets(config.elasticsearch.node);
  registerSecret(config.elasticsearch.apiKey);
  return { config, filepath: found?.filepath, baseDir: found ? path.dirname(found.filepath) : cwd };
}

export function parseConfig(input: unknown): ExchangeConfig {
  const parsed = configSchema.safeParse(input);
  if (parsed.success) {
    // Each sync's settings follow its provider's own schema (DESIGN §10), reported like any other key.
    const problems = checkSyncProviders(parsed.data);
    if (problems.length > 0) throw configError(problems);
    return parsed.data;
  }
  const details = parsed.error.issues.map((issue) => {
    const keyPath = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${[keyPath, key].filter(Boolean).join('.')}: unknown key`).join('\n');
    }
    return `${keyPath || '(root)'}: ${issue.message}`;
  });
  throw configError(details.join('\n').split('\n'));
}

function configError(lines: string[]): ExchangeError {
  return new ExchangeError('CONFIG', `invalid configuration (${lines.length} problem${lines.length === 1 ? '' : 's'})`, {
    hint: 'fix the keys named above; `exchange config` prints what is in force',
    details: lines,
  });
}

const environmentKeys: Array<[string, string[]]> = [
  ['EXCHANGE_AMQP_URL', ['amqp', 'url']],
  ['EXCHANGE_RECORD_STORE', ['recordStore', 'url']],
  ['EXCHANGE_BITRIX24_WEBHOOK', ['crm', 'webhookUrl']],
  ['EXCHANGE_ELASTICSEARCH_URL', ['elasticsearch', 'node']],
  ['EXCHANGE_TENANT', ['tenant']],
];

function applyEnvironment(target: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  for (const [variable, keyPath] of environmentKeys) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    let node = target;
    for (const key of keyPath.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[keyPath[keyPath.length - 1]] = value;
  }
  return target;
}

/** `sqlite:<path>` resolved against the config file's folder (else the working folder). */
export function resolveRecordStoreUrl(loaded: LoadedConfig): string {
  const url = loaded.config.recordStore.url;
  if (!url.startsWith('sqlite:')) return url;
  const file = url.slice('sqlite:'.length);
  if (file === ':memory:') return url;
  return `sqlite:${path.resolve(loaded.baseDir, file)}`;
}
