import { existsSync } from 'node:fs';
import path from 'node:path';
import { ExchangeError } from '../errors.js';
import { configSchema, type ExchangeConfig } from './schema.js';
import { checkSyncProviders } from '../sync/sync-config.js';
import { providerNamed } from '../sync/providers/registry.js';
import { registerSecret, registerUrlSecrets } from './secrets.js';
import { closestKey } from './suggest-key.js';

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
  const explicitPath = options.configPath ?? env.EXCHANGE_CONFIG;

  let found: { config: unknown; filepath: string } | null = null;
  try {
    // cosmiconfig (and its loaders) costs a cron run ~0.1 s to load: only when there is a file for it to read.
    // With searchStrategy 'none' it looks in cwd alone, so no file there means it would find nothing.
    if (explicitPath || searchPlaces.some((place) => existsSync(path.join(cwd, place)))) {
      const { cosmiconfig } = await import('cosmiconfig');
      const explorer = cosmiconfig('exchange', { searchPlaces, searchStrategy: 'none' });
      found = explicitPath ? await explorer.load(path.resolve(cwd, explicitPath)) : await explorer.search(cwd);
    }
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
  const fromEnvironment = new Map<string, string>();
  const merged = applyEnvironment(structuredClone(fileConfig), env, fromEnvironment);
  const origin: ConfigOrigin = { file: found?.filepath, fromEnvironment };
  const baseDir = found ? path.dirname(found.filepath) : cwd;
  let config: ExchangeConfig;
  try {
    config = parseConfig(merged, origin);
  } catch (error) {
    const loadable = loadablePart(merged);
    if (loadable) registerConfigSecrets(loadable);
    if (error instanceof ConfigError) error.loadable = loadable && { config: loadable, filepath: found?.filepath, baseDir };
    throw error;
  }
  registerConfigSecrets(config);
  return { config, filepath: found?.filepath, baseDir };
}

function registerConfigSecrets(config: ExchangeConfig): void {
  registerUrlSecrets(config.amqp.url);
  for (const url of config.amqp.urls ?? []) registerUrlSecrets(url);
  registerUrlSecrets(config.amqp.managementUrl);
  registerUrlSecrets(config.recordStore.url);
  registerUrlSecrets(config.crm.webhookUrl);
  registerUrlSecrets(config.elasticsearch.node);
  registerSecret(config.elasticsearch.apiKey);
}

/** Where the keys came from, so that each problem line says where to fix it. */
export interface ConfigOrigin {
  file?: string;
  /** Dotted key path → the environment variable that set it. */
  fromEnvironment?: Map<string, string>;
}

/**
 * A configuration that does not validate. `loadable` is what the valid keys give over the defaults
 * (the bad keys left out), for `exchange config` to show next to the problems.
 */
export class ConfigError extends ExchangeError {
  loadable?: LoadedConfig;

  constructor(lines: string[]) {
    super('CONFIG', `invalid configuration (${lines.length} problem${lines.length === 1 ? '' : 's'})`, {
      hint: 'fix the keys named above; `exchange config` prints what is in force',
      details: lines,
    });
  }
}

export function parseConfig(input: unknown, origin: ConfigOrigin = {}): ExchangeConfig {
  const where = (keyPath: string) => {
    const variable = origin.fromEnvironment?.get(keyPath);
    if (variable) return ` (from ${variable})`;
    return origin.file ? ` in ${origin.file}` : '';
  };
  const parsed = configSchema.safeParse(input);
  if (parsed.success) {
    // Each sync's settings follow its provider's own schema (DESIGN §10), reported like any other key.
    const problems = checkSyncProviders(parsed.data);
    if (problems.length > 0) throw new ConfigError(problems.map((line) => `${suggestSyncSetting(line, parsed.data)}${where(line.slice(0, line.indexOf(':')))}`));
    return parsed.data;
  }
  const details = parsed.error.issues.flatMap((issue) => {
    const keyPath = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(configSchema, keyPath);
      return issue.keys.map((key) => {
        const full = [...keyPath, key].join('.');
        const meant = known && closestKey(key, known);
        return `${full}: unknown key${meant ? ` (did you mean "${meant}"?)` : ''}${where(full)}`;
      });
    }
    return [`${keyPath.join('.') || '(root)'}: ${issue.message}${where(keyPath.join('.'))}`];
  });
  throw new ConfigError(details);
}

/** A sync's unknown setting gets its suggestion from the provider's own settings schema. */
function suggestSyncSetting(line: string, config: ExchangeConfig): string {
  const match = /^syncs\.([^.]+)\.settings\.(.+): unknown key$/.exec(line);
  if (!match) return line;
  const provider = providerNamed(config.syncs[match[1]]?.provider ?? '');
  const keyPath = match[2].split('.');
  const known = provider && keysAt(provider.settings, keyPath.slice(0, -1));
  const meant = known && closestKey(keyPath[keyPath.length - 1], known);
  return meant ? `${line} (did you mean "${meant}"?)` : line;
}

interface SchemaNode { _zod: { def: { type: string; shape?: Record<string, SchemaNode>; innerType?: SchemaNode; in?: SchemaNode; valueType?: SchemaNode; element?: SchemaNode } } }

/** The keys a strict object of the schema takes at `keyPath` (through defaults, records and arrays). */
function keysAt(schema: unknown, keyPath: string[]): string[] | undefined {
  const unwrap = (node: SchemaNode | undefined): SchemaNode | undefined => {
    for (let i = 0; node && i < 20; i++) {
      const def = node._zod.def;
      if (def.innerType) node = def.innerType;
      else if (def.type === 'pipe' && def.in) node = def.in;
      else return node;
    }
    return node;
  };
  let node = unwrap(schema as SchemaNode);
  for (const key of keyPath) {
    const def = node?._zod.def;
    if (!def) return undefined;
    if (def.type === 'object') node = unwrap(def.shape?.[key]);
    else if (def.type === 'record') node = unwrap(def.valueType);
    else if (def.type === 'array') node = unwrap(def.element);
    else return undefined;
  }
  const shape = node?._zod.def.type === 'object' ? node._zod.def.shape : undefined;
  return shape ? Object.keys(shape) : undefined;
}

/**
 * What the configuration gives without its bad keys: each refused key (or value) is left out and the rest
 * parsed again, so a typo in one key does not hide the rest. Undefined when nothing sensible remains.
 */
function loadablePart(input: Record<string, unknown>): ExchangeConfig | undefined {
  const candidate = structuredClone(input);
  for (let round = 0; round < 50; round++) {
    const parsed = configSchema.safeParse(candidate);
    if (parsed.success) {
      const problems = checkSyncProviders(parsed.data);
      if (problems.length === 0) return parsed.data;
      for (const line of problems) removeAt(candidate, ['syncs', line.split('.')[1]]);
      continue;
    }
    for (const issue of parsed.error.issues) {
      const keyPath = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') issue.keys.forEach((key) => removeAt(candidate, [...keyPath, key]));
      else if (keyPath.length === 0) return undefined;
      // A required key that is missing: the object that lacks it goes.
      else if (valueAt(candidate, keyPath) === undefined) removeAt(candidate, keyPath.slice(0, -1));
      else removeAt(candidate, keyPath);
    }
    if (Object.keys(candidate).length === 0 && !configSchema.safeParse(candidate).success) return undefined;
  }
  return undefined;
}

function valueAt(root: unknown, keyPath: string[]): unknown {
  let node = root;
  for (const key of keyPath) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function removeAt(root: Record<string, unknown>, keyPath: string[]): void {
  if (keyPath.length === 0) return;
  const parent = valueAt(root, keyPath.slice(0, -1));
  if (typeof parent === 'object' && parent !== null) delete (parent as Record<string, unknown>)[keyPath[keyPath.length - 1]];
}

const environmentKeys: Array<[string, string[]]> = [
  ['EXCHANGE_AMQP_URL', ['amqp', 'url']],
  ['EXCHANGE_RECORD_STORE', ['recordStore', 'url']],
  ['EXCHANGE_BITRIX24_WEBHOOK', ['crm', 'webhookUrl']],
  ['EXCHANGE_ELASTICSEARCH_URL', ['elasticsearch', 'node']],
  ['EXCHANGE_TENANT', ['tenant']],
];

/** Lists given in the environment as comma-separated values. */
const environmentLists: Array<[string, string[]]> = [
  ['EXCHANGE_AMQP_URLS', ['amqp', 'urls']],
];

function applyEnvironment(target: Record<string, unknown>, env: NodeJS.ProcessEnv, applied: Map<string, string>): Record<string, unknown> {
  // EXCHANGE_AMQP_URL names the broker for this run: the file's node list (which would win over `url`) goes.
  if (env.EXCHANGE_AMQP_URL && !env.EXCHANGE_AMQP_URLS && typeof target.amqp === 'object' && target.amqp !== null) {
    delete (target.amqp as Record<string, unknown>).urls;
  }
  const entries: Array<[string, string[], unknown]> = [
    ...environmentKeys.map(([variable, keyPath]): [string, string[], unknown] => [variable, keyPath, env[variable]]),
    ...environmentLists.map(([variable, keyPath]): [string, string[], unknown] => [variable, keyPath, env[variable] ? env[variable].split(',').map((item) => item.trim()).filter((item) => item !== '') : undefined]),
  ];
  for (const [variable, keyPath, value] of entries) {
    if (value === undefined || value === '') continue;
    applied.set(keyPath.join('.'), variable);
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
