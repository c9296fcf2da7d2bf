#!/usr/bin/env node
/**
 * Reads Stryker's JSON report and prints the mutation score of each module issue 12 names, failing (exit 1)
 * when any is under the bar. Stryker's own `thresholds.break` only sees the total, so one weak module could
 * hide behind strong ones; this checks each file on its own.
 * Score = (killed + timed out) / (killed + timed out + survived + no coverage), as Stryker counts it;
 * mutants that do not compile or are disabled by a `// Stryker disable` comment are not counted.
 * Usage: node scripts/mutation-scores.mjs [report.json] [--min 80] [--markdown]
 */
import fs from 'node:fs';

const args = process.argv.slice(2);
const minAt = args.indexOf('--min');
const min = minAt === -1 ? 80 : Number(args[minAt + 1]);
const markdown = args.includes('--markdown');
const reportPath = args.find((arg, i) => !arg.startsWith('--') && args[i - 1] !== '--min') ?? 'reports/mutation/mutation.json';

const modules = [
  ['versioning and the version guard', 'src/recordstore/versioning.ts'],
  ['envelope validation', 'src/messages/envelope.ts'],
  ['envelope fast path', 'src/messages/envelope-fast-path.ts'],
  ['CommerceML reader', 'src/onec/read-commerceml.ts'],
  ['CommerceML products', 'src/onec/commerceml-products.ts'],
  ['CommerceML counterparties', 'src/onec/commerceml-counterparty.ts'],
  ['CommerceML documents', 'src/onec/commerceml-document.ts'],
  ['1C values (both readers)', 'src/onec/one-c-values.ts'],
  ['CSV reader', 'src/onec/read-csv.ts'],
  ['failure headers', 'src/amqp/failure-headers.ts'],
  ['failure routing', 'src/amqp/failure-router.ts'],
  ['leaky bucket', 'src/sinks/crm/leaky-bucket.ts'],
  ['config loading', 'src/config/load-config.ts'],
];

if (!fs.existsSync(reportPath)) {
  console.error(`mutation-scores: no report at ${reportPath}; run \`npx stryker run\` first`);
  process.exit(2);
}
const report = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
const files = Object.fromEntries(Object.entries(report.files).map(([name, file]) => [name.replace(/\\/g, '/'), file]));

const rows = [];
let failed = false;
for (const [label, file] of modules) {
  const entry = Object.entries(files).find(([name]) => name === file || name.endsWith(`/${file}`));
  if (!entry) {
    console.error(`mutation-scores: ${file} is not in the report (is it in stryker.config.json's mutate?)`);
    failed = true;
    continue;
  }
  const count = (...statuses) => entry[1].mutants.filter((m) => statuses.includes(m.status)).length;
  const killed = count('Killed', 'Timeout');
  const survived = count('Survived');
  const noCoverage = count('NoCoverage');
  const ignored = count('Ignored');
  const valid = killed + survived + noCoverage;
  const score = valid === 0 ? 100 : (killed / valid) * 100;
  if (score < min) failed = true;
  rows.push({ label, file, mutants: valid, killed, survived: survived + noCoverage, ignored, score });
}

const pct = (score) => `${score.toFixed(1)} %`;
if (markdown) {
  console.log('| module | file | mutants | killed | survived | score |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.label} | \`${r.file}\` | ${r.mutants} | ${r.killed} | ${r.survived} | ${pct(r.score)} |`);
} else {
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log(`${'module'.padEnd(width)}  mutants  killed  survived  disabled  score`);
  for (const r of rows) {
    const flag = r.score < min ? `  < ${min} %` : '';
    console.log(`${r.label.padEnd(width)}  ${String(r.mutants).padStart(7)}  ${String(r.killed).padStart(6)}  ${String(r.survived).padStart(8)}  ${String(r.ignored).padStart(8)}  ${pct(r.score).padStart(7)}${flag}`);
  }
}
if (failed) {
  console.error(`mutation-scores: a module is under ${min} % (survived counts mutants with no test covering them too)`);
  process.exit(1);
}
