/** Rows of (id, target, target_id) grouped by target, every asked-for target present (empty when none). */
export function groupLinks(targets: string[], rows: Array<Record<string, unknown>>): Map<string, Map<string, string>> {
  const byTarget = new Map(targets.map((target) => [target, new Map<string, string>()]));
  for (const row of rows) byTarget.get(String(row.target))?.set(String(row.id), String(row.target_id));
  return byTarget;
}
