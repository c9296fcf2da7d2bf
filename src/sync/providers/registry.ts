import type { SyncProvider } from '../sync-provider.js';

/**
 * Every provider, by name: adding one is one file in this folder and one line here. Loaded lazily, so a run
 * of one sync never loads the others' dependencies.
 */
export const providerLoaders: Record<string, () => Promise<SyncProvider<any>>> = {
};

export const providerNames = Object.keys(providerLoaders);
