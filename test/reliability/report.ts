/**
 * Writes the figures of a reliability run into docs/reliability.md (only between
 * `<!-- reliability:generated:begin -->` and `<!-- reliability:generated:end -->`; the rest of the
 * document is written by hand, and the "Hostile input" part lives in its own file) and the soak's
 * memory plot to docs/reliability-soak.svg. The run's raw results go beside them as JSON.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { escapeXml, svg } from '../../bench/report.ts';
import type { PhaseResult } from './harness.ts';
import { growth, type SoakResult } from './soak.ts';

/** When and where a part of the results was measured. */
export interface RunInfo {
  readonly date: string;
  readonly nodes: number;
  readonly seed: number;
}

/**
 * The figures docs/reliability.md shows. Each part comes from the last run that ran all of it
 * (a run may run the matrix alone, or the soak alone, under the cluster's time limit per hold).
 */
export interface ReliabilityResults {
  readonly matrix?: RunInfo & { readonly phases: readonly PhaseResult[] };
  readonly soak?: RunInfo & SoakResult;
  /** That run's oracle over every write, and what was touched beside the roots. */
  readonly overall?: RunInfo & {
    written: number;
    lost: number;
    diverged: number;
    outside: readonly string[];
    /** Staged files the agent still held in the container root at the end (ksync's own temp files). */
    staged: number;
  };
}

const BEGIN = '<!-- reliability:generated:begin -->';
const END = '<!-- reliability:generated:end -->';

const seconds = (ms: number | undefined): string =>
  ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`;

/** The generated part of the document. */
export function renderFigures(r: ReliabilityResults): string {
  const lines = [BEGIN, ''];
  if (r.matrix !== undefined) {
    const m = r.matrix;
    lines.push(
      '### The fault matrix',
      '',
      `${describeRun(m)}. Recovery: from the cause gone to a fresh edit seen across both ways.`,
      '',
      '| fault | edits written | lost | diverged | recovery | kept by a conflict | uncertain |',
      '| --- | --: | --: | --: | --: | --: | --: |',
      ...m.phases.map(
        (p) =>
          `| ${p.title} | ${p.written} | ${p.lost} | ${p.diverged} | ${seconds(p.recoveryMs)} | ${p.savedByConflict} | ${p.uncertain} |`,
      ),
      '',
      ...m.phases
        .filter((p) => p.note !== undefined)
        .map((p) => `- **${p.name}**: ${p.note ?? ''}`),
      ...m.phases.flatMap((p) => p.details.slice(0, 10).map((d) => `- **${p.name}** ${d}`)),
      '',
    );
  }
  if (r.soak !== undefined) {
    const s = r.soak;
    const daemon = s.samples.flatMap((x) => (x.daemonMiB === undefined ? [] : [x.daemonMiB]));
    const fds = s.samples.flatMap((x) => (x.daemonFds === undefined ? [] : [x.daemonFds]));
    const agent = s.samples.flatMap((x) => (x.agentMiB === undefined ? [] : [x.agentMiB]));
    const g = growth(daemon);
    const recovered = s.faults.flatMap((f) => (f.recoveryMs === undefined ? [] : [f.recoveryMs]));
    lines.push(
      '### The soak',
      '',
      `${describeRun(s)}: ${s.minutes} minutes, ${s.written} edits, ${s.faults.length} faults (${[...new Set(s.faults.map((f) => f.name))].join(', ')}); ` +
        `**${s.lost} lost**, ${s.diverged} diverged, ${s.savedByConflict} kept by a conflict, ${s.uncertain} uncertain. ` +
        `Recovery after a fault: median ${seconds(median(recovered))}, worst ${seconds(recovered.length === 0 ? undefined : Math.max(...recovered))}` +
        `${s.faults.some((f) => f.recoveryMs === undefined) ? `, ${s.faults.filter((f) => f.recoveryMs === undefined).length} never` : ''}.`,
      '',
      `Daemon RSS ${fmt(daemon[0])} → ${fmt(daemon.at(-1))} MiB (peak ${fmt(Math.max(...daemon))}; last fifth ÷ second fifth ${g === undefined ? 'n/a' : `${g.toFixed(2)}×`}), ` +
        `daemon fds ${fds[0] ?? 'n/a'} → ${fds.at(-1) ?? 'n/a'}; agent RSS ${fmt(agent[0])} → ${fmt(agent.at(-1))} MiB (peak ${fmt(Math.max(...agent))}; the agent restarts with some faults).`,
      '',
      '![Resident memory of the CLI daemon and the agent during the soak](reliability-soak.svg)',
      '',
      ...s.details.slice(0, 10).map((d) => `- ${d}`),
      '',
    );
  }
  if (r.overall !== undefined) {
    const o = r.overall;
    lines.push(
      '### The whole run',
      '',
      `${describeRun(o)}: the oracle over all ${o.written} writes of the run: ${o.lost} lost, ${o.diverged} diverged. Beside the roots (the sentinel trees on both sides, and the local tmpfs): ${o.outside.length === 0 ? 'nothing touched' : o.outside.join(', ')}. Staged files left in the container root at the end (none may be: staging is cleared when each apply ends): ${o.staged}.`,
      '',
    );
  }
  lines.push(END);
  return lines.join('\n');
}

function describeRun(r: RunInfo): string {
  return `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC on ${r.nodes} node(s), seed ${r.seed}`;
}

function fmt(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(0);
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The soak's RSS over time: the daemon and the agent, a dashed line at each fault. */
export function soakPlot(s: SoakResult): string {
  const W = 640;
  const H = 320;
  const M = { left: 60, right: 120, top: 40, bottom: 45 };
  const tMax = Math.max(s.minutes * 60, ...s.samples.map((x) => x.t));
  const yMax = Math.max(1, ...s.samples.flatMap((x) => [x.daemonMiB ?? 0, x.agentMiB ?? 0])) * 1.15;
  const sx = (t: number) => M.left + (t / tMax) * (W - M.left - M.right);
  const sy = (v: number) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom);
  const out: string[] = [];
  const step =
    10 ** Math.floor(Math.log10(yMax)) / (yMax / 10 ** Math.floor(Math.log10(yMax)) < 3 ? 2 : 1);
  for (let v = 0; v <= yMax; v += step) {
    out.push(
      `<line x1="${M.left}" y1="${sy(v)}" x2="${W - M.right}" y2="${sy(v)}" stroke="#ddd"/>`,
    );
    out.push(`<text x="${M.left - 6}" y="${sy(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`);
  }
  const minutes = Math.ceil(tMax / 60);
  for (let m = 0; m <= minutes; m += Math.max(1, Math.ceil(minutes / 10))) {
    out.push(`<text x="${sx(m * 60)}" y="${H - M.bottom + 16}" text-anchor="middle">${m}</text>`);
  }
  for (const f of s.faults) {
    out.push(
      `<line x1="${sx(f.t)}" y1="${M.top}" x2="${sx(f.t)}" y2="${H - M.bottom}" stroke="#999" stroke-dasharray="3,3"><title>${escapeXml(f.name)}</title></line>`,
    );
  }
  const series = [
    {
      name: 'CLI daemon',
      color: '#d62728',
      pick: (x: SoakResult['samples'][number]) => x.daemonMiB,
    },
    { name: 'agent', color: '#1f77b4', pick: (x: SoakResult['samples'][number]) => x.agentMiB },
  ];
  series.forEach((line, i) => {
    const pts = s.samples.flatMap((x) => {
      const v = line.pick(x);
      return v === undefined ? [] : [`${sx(x.t).toFixed(1)},${sy(v).toFixed(1)}`];
    });
    out.push(
      `<polyline fill="none" stroke="${line.color}" stroke-width="2" points="${pts.join(' ')}"/>`,
    );
    out.push(
      `<rect x="${W - M.right + 15}" y="${M.top + i * 20}" width="12" height="12" fill="${line.color}"/>`,
    );
    out.push(`<text x="${W - M.right + 32}" y="${M.top + i * 20 + 11}">${line.name}</text>`);
  });
  out.push(`<text x="${W - M.right + 15}" y="${M.top + 56}" fill="#666">- - a fault</text>`);
  out.push(
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">minutes</text>`,
  );
  out.push(
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">RSS (MiB)</text>`,
  );
  return svg(`Resident memory during a ${s.minutes}-minute soak`, out, { width: W, height: H });
}

/**
 * Merges `next` over the results of earlier runs (docs/reliability-results.json) and writes the
 * document's figures, the soak plot and the merged results.
 */
export async function writeReliabilityDoc(
  next: ReliabilityResults,
  docsDir: string,
): Promise<void> {
  const json = join(docsDir, 'reliability-results.json');
  const previous = JSON.parse(await readFile(json, 'utf8').catch(() => '{}')) as ReliabilityResults;
  const r: ReliabilityResults = { ...previous, ...next };
  const path = join(docsDir, 'reliability.md');
  const doc = await readFile(path, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${path} lacks the ${BEGIN} ... ${END} markers`);
  const text = doc.slice(0, a) + renderFigures(r) + doc.slice(b + END.length);
  const options = (await resolveConfig(path)) ?? {};
  await writeFile(path, await format(text, { ...options, filepath: path }));
  if (r.soak !== undefined)
    await writeFile(join(docsDir, 'reliability-soak.svg'), soakPlot(r.soak));
  await writeFile(json, await format(JSON.stringify(r), { ...options, filepath: json }));
}
