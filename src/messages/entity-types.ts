export const entityTypes = ['user', 'product', 'mutualsettlements'] as const;
export type EntityType = (typeof entityTypes)[number];

export function isEntityType(value: string): value is EntityType {
  return (entityTypes as readonly string[]).includes(value);
}
