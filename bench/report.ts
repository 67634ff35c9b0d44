/**
 * Writes `benchmarks.md` and its SVG plots from one run's results. A hand-written block between
 * `<!-- analysis:start -->` and `<!-- analysis:end -->` in the existing doc is carried over, so a
 * rerun refreshes the figures without losing the reading of them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { percentile } from './helpers.ts';
import type { Params, Results, Sample } from './results.ts';

/** Statistics of one row for one tool. */
interface Stats {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly Sample[];
}

/** One row of the table: what it measures, the issue's figures, its goal. */
interface Row {
  readonly id: string;
  readonly title: (p: Params) => string;
  readonly unit: string;
  readonly latency?: boolean;
  readonly higherIsBetter?: boolean;
  readonly issue: string;
  /** The cluster baseline of this row (tool `cluster`), if it has one. */
  readonly baseline?: { readonly row: string; readonly label: string };
  readonly goal: string;
  /** Whether ksync meets the goal; undefined when it cannot be judged from this run. */
  readonly met?: (
    ksync: Stats,
    mutagen: Stats | undefined,
    baseline: Stats | undefined,
  ) => boolean | undefined;
}

const MIB_PER_MB = 1e6 / 2 ** 20;
const largestPart = (s: Sample) => Math.max(...Object.values(s.parts ?? { all: s.value }));
const vsMutagen = (factor: number) => (k: Stats, m: Stats | undefined) =>
  m === undefined ? undefined : k.median <= factor * m.median;

const ROWS: readonly Row[] = [
  {
    id: 'start-version',
    title: () => 'fixed cost: `version` command, wall time',
    unit: 'ms',
    issue: '~0.5 s per Node process before the first byte moves',
    goal: '',
  },
  {
    id: 'start-list',
    title: () => 'fixed cost: list syncs while one runs (`ksync get`, `mutagen sync list`)',
    unit: 'ms',
    issue: '',
    goal: '',
  },
  {
    id: 'start-first-byte',
    title: () => 'start → first file on the other side, one-file tree',
    unit: 'ms',
    issue: '',
    goal: '',
  },
  {
    id: 'edit-small',
    title: (p) => `edit → other side, small tree (${p.smallFiles} files), p50 / p99`,
    unit: 'ms',
    latency: true,
    issue: '23 / 39 ms vs 39 / 48 ms; `kubectl cp` 198 ms',
    baseline: { row: 'kubectl-cp', label: '`kubectl cp`' },
    goal: 'p50 ≤ 0.6× Mutagen',
    met: vsMutagen(0.6),
  },
  {
    id: 'edit-first-small',
    title: () => 'first edit after a start, small tree',
    unit: 'ms',
    issue: '',
    goal: '',
  },
  {
    id: 'edit-large',
    title: (p) =>
      `edit → other side with ${p.largeFiles.toLocaleString('en')} files watched, p50 / p99`,
    unit: 'ms',
    latency: true,
    issue: '1.5–1.65 s vs 0.6 s',
    goal: 'p50 ≤ 30 ms',
    met: (k) => k.median <= 30,
  },
  {
    id: 'edit-first-large',
    title: (p) => `first edit after a start, ${p.largeFiles.toLocaleString('en')} files watched`,
    unit: 'ms',
    issue: 'Mutagen 9 s',
    goal: '',
  },
  {
    id: 'first-medium',
    title: (p) =>
      `first sync, ${p.mediumFiles.toLocaleString('en')} files / ${Math.round((p.mediumFiles * p.mediumFileBytes) / 1e6)} MB`,
    unit: 's',
    issue: '7.3–8.4 s vs 1.1–2.3 s; tar over exec 2.4 s',
    baseline: { row: 'tar-exec', label: 'tar over `kubectl exec`' },
    goal: '≤ 1.0× Mutagen and ≤ 1.0× tar over exec',
    met: (k, m, b) =>
      m === undefined || b === undefined ? undefined : k.median <= m.median && k.median <= b.median,
  },
  {
    id: 'first-medium-hashed',
    title: (p) =>
      `first sync, ${p.mediumFiles.toLocaleString('en')} files: files the agent hashed (its own writes it could not trust)`,
    unit: 'files',
    issue: '',
    goal: '0',
  },
  {
    id: 'first-large',
    title: (p) => `first sync, ${p.largeFiles.toLocaleString('en')} files of 1 KiB`,
    unit: 's',
    issue: '42–62 s vs 12–20 s',
    goal: '≤ 1.0× Mutagen',
    met: vsMutagen(1),
  },
  {
    id: 'restart-large',
    title: (p) => `no-op restart, ${p.largeFiles.toLocaleString('en')} files`,
    unit: 's',
    issue: '11–13 s vs 1.6–2.0 s',
    goal: '≤ 1.0× Mutagen',
    met: vsMutagen(1),
  },
  {
    id: 'restart-wire',
    title: () => 'no-op restart: TCP bytes daemon ↔ agent',
    unit: 'MB',
    issue: '~28 MB of snapshot',
    goal: '0 content bytes (this counts all bytes)',
  },
  {
    id: 'burst',
    title: (p) => `burst of ${p.burst.toLocaleString('en')} changed files`,
    unit: 's',
    issue: '5.9–9.1 s vs 11.4–12.4 s',
    goal: '≤ 1 s',
    met: (k) => k.median <= 1,
  },
  {
    id: 'burst-hashed',
    title: (p) =>
      `burst of ${p.burst.toLocaleString('en')} files: files the agent hashed, first sync included`,
    unit: 'files',
    issue: '',
    goal: '0',
  },
  {
    id: 'mem-large',
    title: (p) => `memory, ${p.largeFiles.toLocaleString('en')} files watched (RSS, all processes)`,
    unit: 'MiB',
    issue: '1.2 GB vs 350 MB',
    goal: 'each process ≤ 150 MB (143 MiB)',
    met: (k) => median(k.samples.map(largestPart)) <= 150 * MIB_PER_MB,
  },
  {
    id: 'mem-big',
    title: (p) => `memory, moving a ${p.bigMiB} MiB file (peak RSS, largest process)`,
    unit: 'MiB',
    issue: '368 MB vs 19 MB',
    goal: '≤ 64 MB (61 MiB)',
    met: (k) => k.median <= 64 * MIB_PER_MB,
  },
  {
    id: 'big-up',
    title: (p) => `${p.bigMiB} MiB file, local → remote`,
    unit: 'MiB/s',
    higherIsBetter: true,
    issue: '133 vs 392 MiB/s; raw port-forward 66 MiB/s',
    baseline: { row: 'exec-stdin', label: 'raw `kubectl exec -i` stdin' },
    goal: '≥ 1.0× Mutagen',
    met: (k, m) => (m === undefined ? undefined : k.median >= m.median),
  },
  {
    id: 'big-down',
    title: (p) => `${p.bigMiB} MiB file, remote → local`,
    unit: 'MiB/s',
    higherIsBetter: true,
    issue: '99 vs 125 MiB/s',
    goal: '≥ 1.0× Mutagen',
    met: (k, m) => (m === undefined ? undefined : k.median >= m.median),
  },
  {
    id: 'delta-time',
    title: (p) => `1 byte changed in a ${p.bigMiB} MiB file: time to the other side`,
    unit: 's',
    issue: '',
    goal: '',
  },
  {
    id: 'delta-wire',
    title: (p) => `1 byte changed in a ${p.bigMiB} MiB file: TCP bytes on the wire`,
    unit: 'MB',
    issue: 'resends 1.07 GB; Mutagen sends rsync deltas',
    goal: '< 1 MB',
    met: (k) => k.median < 1,
  },
  {
    id: 'idle-cpu',
    title: (p) => `idle CPU, ${p.largeFiles.toLocaleString('en')} files watched`,
    unit: 's/min',
    issue: '0.1 vs 6 s per minute',
    goal: 'keep (≤ 0.5 s per minute)',
    met: (k) => k.median <= 0.5,
  },
];

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function stats(samples: readonly Sample[]): Stats | undefined {
  if (samples.length === 0) return undefined;
  const sorted = samples.map((s) => s.value).sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: median(sorted),
    p99: percentile(sorted, 99),
    min: sorted[0] as number,
    max: sorted.at(-1) as number,
    samples,
  };
}

/** Three significant figures, no exponent. */
function fmt(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
  return value.toLocaleString('en', {
    maximumFractionDigits: Math.min(digits, 4),
    minimumFractionDigits: 0,
  });
}

function cell(row: Row, s: Stats | undefined): string {
  if (s === undefined) return 'not run';
  const range = `${fmt(s.min)}–${fmt(s.max)}`;
  if (row.latency) return `${fmt(s.median)} / ${fmt(s.p99)} ${row.unit} (${range}, n=${s.n})`;
  const parts = s.samples[0]?.parts;
  const partText =
    parts === undefined || Object.keys(parts).length < 2
      ? ''
      : `; ${Object.keys(parts)
          .map((name) => `${name} ${fmt(median(s.samples.map((x) => x.parts?.[name] ?? NaN)))}`)
          .join(', ')}`;
  return `${fmt(s.median)} ${row.unit} (${range}, n=${s.n}${partText})`;
}

/** `text` with XML's special characters escaped, for SVG text. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const COLORS: Record<string, string> = {
  ksync: '#d62728',
  'ksync-kube': '#ff7f0e',
  mutagen: '#1f77b4',
};
const W = 640;
const H = 360;
const M = { left: 70, right: 130, top: 40, bottom: 50 };

/** A log-log line chart of `series` (x: files). */
function lineChart(options: {
  title: string;
  yLabel: string;
  series: { name: string; points: [number, number][] }[];
}): string {
  const all = options.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  const [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  const [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  const lx = (x: number) => Math.log10(x);
  const sx = (x: number) =>
    M.left + ((lx(x) - lx(x0) + 0.05) / (lx(x1) - lx(x0) + 0.1)) * (W - M.left - M.right);
  const ly0 = Math.floor(lx(y0));
  const ly1 = Math.ceil(lx(y1) + 1e-9);
  const sy = (y: number) =>
    H - M.bottom - ((lx(y) - ly0) / Math.max(1, ly1 - ly0)) * (H - M.top - M.bottom);
  const out: string[] = [];
  for (let e = ly0; e <= ly1; e++) {
    const y = sy(10 ** e);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${fmt(10 ** e)}</text>`);
  }
  for (const x of [...new Set(all.map((p) => p[0]))]) {
    out.push(
      `<text x="${sx(x)}" y="${H - M.bottom + 18}" text-anchor="middle">${x.toLocaleString('en')}</text>`,
    );
  }
  options.series.forEach((s, i) => {
    const color = COLORS[s.name] ?? '#555';
    const pts = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const [x, y] of pts) {
      out.push(
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(s.name)}: ${fmt(y)}</title></circle>`,
      );
    }
    out.push(
      `<rect x="${W - M.right + 15}" y="${M.top + i * 20}" width="12" height="12" fill="${color}"/>`,
    );
    out.push(
      `<text x="${W - M.right + 32}" y="${M.top + i * 20 + 11}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push(
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">files (log scale)</text>`,
  );
  out.push(
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)} (log scale)</text>`,
  );
  return svg(options.title, out);
}

/** A horizontal bar chart of ksync ÷ Mutagen per row on a log axis, with a line at 1×. */
function ratioChart(bars: { label: string; ratio: number; better: boolean }[]): string {
  const rowH = 24;
  const height = M.top + bars.length * rowH + 40;
  const left = 420;
  const right = 860;
  const lo = Math.floor(Math.log10(Math.min(0.1, ...bars.map((b) => b.ratio))));
  const hi = Math.ceil(Math.log10(Math.max(10, ...bars.map((b) => b.ratio))));
  const sx = (r: number) => left + ((Math.log10(r) - lo) / (hi - lo)) * (right - 20 - left);
  const out: string[] = [];
  for (let e = lo; e <= hi; e++) {
    out.push(
      `<line x1="${sx(10 ** e)}" y1="${M.top - 5}" x2="${sx(10 ** e)}" y2="${M.top + bars.length * rowH}" stroke="${e === 0 ? '#000' : '#ddd'}"/>`,
    );
    out.push(
      `<text x="${sx(10 ** e)}" y="${M.top + bars.length * rowH + 16}" text-anchor="middle">${fmt(10 ** e)}×</text>`,
    );
  }
  bars.forEach((b, i) => {
    const y = M.top + i * rowH;
    const [a, z] = [sx(Math.min(1, b.ratio)), sx(Math.max(1, b.ratio))];
    out.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escapeXml(b.label)}</text>`);
    out.push(
      `<rect x="${a}" y="${y + 4}" width="${Math.max(1, z - a)}" height="${rowH - 8}" fill="${b.better ? '#2ca02c' : '#d62728'}"><title>${fmt(b.ratio)}×</title></rect>`,
    );
  });
  out.push(
    `<text x="${(left + right) / 2}" y="${height - 6}" text-anchor="middle">ksync ÷ Mutagen (green: ksync better, red: worse; log scale)</text>`,
  );
  return svg('ksync relative to Mutagen, medians', out, { width: right + 10, height });
}

/** An SVG document of `body` elements on a white background under a centred `title`. */
export function svg(title: string, body: string[], size = { width: W, height: H }): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}" viewBox="0 0 ${size.width} ${size.height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${size.width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

async function keptAnalysis(path: string): Promise<string> {
  try {
    const old = await readFile(path, 'utf8');
    const match = /<!-- analysis:start -->[\s\S]*?<!-- analysis:end -->/.exec(old);
    if (match !== null) return match[0];
  } catch {
    // first run
  }
  return '<!-- analysis:start -->\n_No reading of the profiles yet._\n<!-- analysis:end -->';
}

/** Medians of one row for one tool, as `writeReport` reads them. */
type StatsOf = (row: string, tool: string) => Stats | undefined;

/** `a ÷ b` of the medians as a cell, or a dash. */
function ratioCell(a: Stats | undefined, b: Stats | undefined): string {
  return a === undefined || b === undefined || b.median === 0
    ? '—'
    : `${fmt(a.median / b.median)}×`;
}

/** The cluster baseline of `row` and ksync's median relative to it; empty for a row without one. */
function baselineCell(row: Row, ksync: Stats | undefined, baseline: Stats | undefined): string {
  if (row.baseline === undefined) return '';
  const ratio =
    ksync === undefined || baseline === undefined ? '' : ` (ksync ${ratioCell(ksync, baseline)})`;
  return `${row.baseline.label}: ${cell(row, baseline)}${ratio}`;
}

/**
 * The rows ksync-kube measured, beside direct ksync and Mutagen: what the port-forward and the
 * cluster's agent add to each figure (nothing when the tool did not run).
 */
function throughPortForward(results: Results, of: StatsOf): string[] {
  const rows = ROWS.filter((row) => of(row.id, 'ksync-kube') !== undefined);
  if (rows.length === 0) return [];
  return [
    '',
    '### Through port-forward',
    '',
    `ksync syncing a directory of a pod on the local cluster (\`ksync-kube\`), the same scenarios ${
      (results.mergedFrom ?? []).some((m) => m.tools.includes('ksync-kube'))
        ? 'in a separate run (see "How it was run"), so the ratios compare runs under different loads.'
        : 'in the same rounds.'
    }`,
    '',
    '| measure | ksync through port-forward | ksync direct | ÷ direct | Mutagen | ÷ Mutagen | cluster baseline |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((row) => {
      const kube = of(row.id, 'ksync-kube');
      const direct = of(row.id, 'ksync');
      const mutagen = of(row.id, 'mutagen');
      const baseline = row.baseline === undefined ? undefined : of(row.baseline.row, 'cluster');
      return `| ${row.title(results.params)} | ${cell(row, kube)} | ${cell(row, direct)} | ${ratioCell(kube, direct)} | ${cell(row, mutagen)} | ${ratioCell(kube, mutagen)} | ${baselineCell(row, kube, baseline)} |`;
    }),
  ];
}

/** Writes benchmarks.md and the SVGs into `dir`; returns the paths written. */
export async function writeReport(results: Results, dir: string): Promise<string[]> {
  const { params, machine } = results;
  const of = (row: string, tool: string) =>
    stats(results.samples.filter((s) => s.row === row && s.tool === tool));
  // Every size measured, also those of merged runs (`--report a.json,b.json`).
  const measured = results.samples.flatMap((s) =>
    s.row.startsWith('scale-time:') ? [Number(s.row.slice('scale-time:'.length))] : [],
  );
  const sizes = [...new Set([...params.scaling, params.largeFiles, ...measured])].sort(
    (a, b) => a - b,
  );
  const files: string[] = [];
  const lines: string[] = [
    '# Benchmarks',
    '',
    `Generated by \`make bench\` (\`node bench/run.ts\`) on ${machine.date.slice(0, 16).replace('T', ' ')} UTC in ${fmt(machine.minutes)} minutes;`,
    'do not edit the figures by hand (the block under "Reading the profiles" is kept across runs).',
    'Raw results: `bench/out/results.json` (not committed).',
    '',
    '## Run it',
    '',
    '- `make bench`: the full run (`node bench/run.ts --profile`; 15–40 min on 2 cores with the 300k-file point). Pass',
    '  `BENCH_ARGS="--rounds 2 --large-rounds 1 --scaling 1000,10000 …"` to change sizes and rounds.',
    '- `node bench/run.ts --quick --out DIR`: tiny sizes, 1–2 min (CI runs it in',
    '  `test/integration/bench-harness.test.ts`).',
    '- `node bench/run.ts --report bench/out/results.json`: rewrites this doc and the plots from saved results.',
    '- `--only large,big` reruns some scenarios (startup, small, medium, scaling, big, large, cluster) with',
    '  `--out DIR`, e.g. to check rows measured under heavy load; `--only profile --profile --out DIR`',
    '  takes the profiles alone, and `--report bench/out/results.json,DIR/results.json` puts them in',
    "  this doc in place of the main run's.",
    '- Mutagen is built by `bench/mutagen.sh` into `~/.cache/ksync` on first use (needs Go and the Go',
    '  module proxy). When `KUBECONFIG` points at a running local cluster (`make cluster-up`), ksync also',
    '  runs through port-forward (`ksync-kube`, skipped by `--no-kube`) and the cluster baselines run;',
    '  e.g. `KUBECONFIG=$PWD/.cluster/kubeconfig node bench/run.ts --no-mutagen --out bench/out-kube`.',
    '',
    '## Machine',
    '',
    `- ${machine.cpus} × ${machine.cpuModel}, ${fmt(machine.memoryGiB)} GiB memory, Linux ${machine.kernel}`,
    `- Node ${machine.node}; ${machine.go}`,
    `- load average (1, 5, 15 min) at the start: ${machine.loadBefore}; at the end: ${machine.loadAfter}.`,
    `  A load above ${machine.cpus} means other work ran beside the bench, so absolute times are`,
    '  noisy. Each round runs the tools back to back (alternating which goes first), so the',
    '  ratios are fairer than the absolute figures.',
    '',
    '## How it was run',
    '',
    `- Tools: ${results.tools.join(', ')}. ksync in direct mode: the real \`bin/ksync watch --daemon\` and`,
    '  the real `bin/ksync-agent` on a loopback port (the compiled build `bin/` runs, packages/cli/build.ts).',
    '  Mutagen v0.18.1 (built by `bench/mutagen.sh`) local to local, `--sync-mode two-way-resolved`,',
    '  its own daemon (`mutagen daemon run`) with a private data directory.',
    '- ksync-kube (when the local cluster runs): the same `bin/ksync` daemon syncing a directory of a',
    '  pod (`ksync create --pod`, an emptyDir at the sync dir) through the Kubernetes transport: a',
    '  port-forward by the API server to the agent DaemonSet that `ksync init` installs. This machine',
    "  is the node: the harness reads and writes the container's files through /proc/<pid>/root, and",
    "  the agent's RSS, CPU and TCP bytes (`ss` in its pod's network namespace) from its host pid.",
    '  One agent serves every pair of the run, as it serves every sync of a node; its memory is',
    '  its RSS then, not a fresh process.',
    '- Cluster baselines (when the local cluster runs): `kubectl cp` of one small file; the medium',
    '  tree by `tar c | kubectl exec -i POD -- tar x`; the big file through `kubectl exec -i` stdin,',
    '  counted by the pod (`wc -c`). One busybox pod on the single-node local cluster.',
    ...(results.mergedFrom ?? []).map((m) => {
      const added = [
        ...(m.tools.length > 0 ? [`the ${m.tools.join(', ')} rows`] : []),
        ...((m.profiled ?? []).length > 0
          ? [`the profiles of ${(m.profiled ?? []).join('; ')}`]
          : []),
      ];
      return `- Added from a separate run at ${m.date.slice(0, 16).replace('T', ' ')} UTC: ${added.join(' and ')} (not alternated with the main run).`;
    }),
    `- Rounds: ${params.rounds} (the ${params.largeFiles.toLocaleString('en')}-file scenario: ${Math.min(params.rounds, params.largeRounds)})${params.quick ? '; `--quick` sizes' : ''}.`,
    '- Every scenario starts from fresh directories and fresh processes. A first sync is timed',
    '  from starting the sync (`ksync watch --daemon` with the agent already up; `mutagen sync',
    '  create` with its daemon already up) until its flush returns.',
    `- Edits: ${params.edits} per round, alternating local → remote and remote → local, 100 ms apart,`,
    '  timed from the write until the other side reads the new content (polled every ms). The',
    "  first edit after a start is its own row: Mutagen's Linux build does not watch recursively",
    '  (it rescans every 10 s and watches the 50 most recently changed directories).',
    `- Burst: ${params.burst.toLocaleString('en')} files of the ${params.mediumFiles.toLocaleString('en')}-file tree rewritten, timed until the other side holds all of them.`,
    `- Memory: RSS from /proc, sampled every 50 ms; idle CPU: utime + stime over ${params.idleSeconds} s, per minute.`,
    '- No-op restart: ksync stops and starts its watch daemon (the agent stays up, and serves the',
    "  new connection with a new endpoint that reads the root's stat cache from its --state-dir);",
    '  Mutagen stops and starts its daemon. Timed until the flush after the start returns.',
    "- Bytes on the wire: `ss` counters of the agent's TCP connection. Mutagen local to local",
    '  has no wire (both endpoints live in its daemon), so it has no figure there.',
    `- Scaling curve: first sync of ${sizes.map((n) => n.toLocaleString('en')).join(', ')} files of 1 KiB (sizes from ${params.largeFiles.toLocaleString('en')} files up in the large rounds only).`,
    '',
    '## Results',
    '',
    'Medians (min–max over every sample, n samples); latency rows show p50 / p99 over all samples.',
    '',
    '| measure | ksync | Mutagen | ksync ÷ Mutagen | cluster baseline | issue 11 (ksync vs Mutagen) | goal | met |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const bars: { label: string; ratio: number; better: boolean }[] = [];
  for (const row of ROWS) {
    const k = of(row.id, 'ksync');
    const m = of(row.id, 'mutagen');
    const ratio =
      k !== undefined && m !== undefined && m.median > 0 ? k.median / m.median : undefined;
    if (ratio !== undefined && ratio > 0) {
      bars.push({
        label: row.title(params),
        ratio,
        better: row.higherIsBetter ? ratio > 1 : ratio < 1,
      });
    }
    const b = row.baseline === undefined ? undefined : of(row.baseline.row, 'cluster');
    const met = k === undefined || row.met === undefined ? undefined : row.met(k, m, b);
    const metText = row.met === undefined ? '' : met === undefined ? 'n/a' : met ? 'yes' : '**no**';
    const mutagenText =
      m === undefined && results.tools.includes('mutagen') ? 'no figure' : cell(row, m);
    lines.push(
      `| ${row.title(params)} | ${cell(row, k)} | ${mutagenText} | ${ratio === undefined ? '—' : `${fmt(ratio)}×`} | ${baselineCell(row, k, b)} | ${row.issue} | ${row.goal} | ${metText} |`,
    );
  }
  lines.push(...throughPortForward(results, of));
  lines.push(
    '',
    '### Not run',
    '',
    ...(results.notRun.length === 0 ? ['Everything ran.'] : results.notRun.map((n) => `- ${n}`)),
  );
  if (results.failures.length > 0) {
    lines.push('', '### Failed', '', ...results.failures.map((f) => `- ${f}`));
  }

  const curve = (prefix: string) =>
    results.tools.map((tool) => ({
      name: tool,
      points: sizes.flatMap((n): [number, number][] => {
        const s = of(`${prefix}:${n}`, tool);
        return s === undefined ? [] : [[n, s.median]];
      }),
    }));
  lines.push(
    '',
    '## Scaling',
    '',
    '| files | ' + results.tools.map((t) => `${t} first sync | ${t} peak RSS`).join(' | ') + ' |',
  );
  lines.push('|---|' + results.tools.map(() => '---|---|').join(''));
  for (const n of sizes) {
    const cells = results.tools.map((t) => {
      const time = of(`scale-time:${n}`, t);
      const mem = of(`scale-mem:${n}`, t);
      return `${time === undefined ? 'not run' : `${fmt(time.median)} s`} | ${mem === undefined ? 'not run' : `${fmt(mem.median)} MiB`}`;
    });
    lines.push(`| ${n.toLocaleString('en')} | ${cells.join(' | ')} |`);
  }
  const plots: [string, string, string][] = [
    [
      'bench-scaling-time.svg',
      'First sync time by tree size',
      lineChart({
        title: 'First sync time by tree size',
        yLabel: 'seconds',
        series: curve('scale-time'),
      }),
    ],
    [
      'bench-scaling-memory.svg',
      'Peak RSS during the first sync by tree size',
      lineChart({
        title: 'Peak RSS during the first sync (all processes)',
        yLabel: 'MiB',
        series: curve('scale-mem'),
      }),
    ],
  ];
  if (bars.length > 0)
    plots.push(['bench-ratios.svg', 'ksync relative to Mutagen', ratioChart(bars)]);
  lines.push('');
  for (const [name, title, body] of plots) {
    await writeFile(join(dir, name), body);
    files.push(join(dir, name));
    lines.push(`![${title}](${name})`, '');
  }

  lines.push('## Profiles', '');
  if (results.profiles.length === 0) {
    lines.push('Not profiled in this run (`--profile`).');
  } else {
    lines.push(
      "ksync's daemon and agent ran with `--cpu-prof` through a proxy that counts WebSocket messages;",
      'each profile is cut to the measured window. Raw profiles: `bench/out/profiles/` (load them in',
      'Chrome DevTools).',
      '',
      '| scenario | messages daemon → agent | messages agent → daemon | bytes → agent | bytes ← agent |',
      '|---|---|---|---|---|',
      ...results.traffic.map(
        (t) =>
          `| ${t.scenario} | ${t.framesToAgent.toLocaleString('en')} | ${t.framesFromAgent.toLocaleString('en')} | ${fmt(t.bytesToAgent / 1e6)} MB | ${fmt(t.bytesFromAgent / 1e6)} MB |`,
      ),
      '',
    );
    for (const p of results.profiles) {
      lines.push(
        `**${p.scenario}, ${p.process}**: ${fmt(p.wallSeconds)} s wall, busy ${fmt(p.busyPercent)}% of it.`,
        ...(p.files === undefined
          ? []
          : ['', `By file: ${p.files.map((f) => `${f.file} ${fmt(f.percent)}%`).join(', ')}.`]),
        '',
        'Top self time:',
        '',
        '| % of wall | function | where |',
        '|---|---|---|',
        ...p.top.map(
          (t) =>
            `| ${fmt(t.percent)} | \`${t.name}\` | ${t.where === '' ? '' : `\`${t.where}\``} |`,
        ),
        '',
      );
    }
  }
  lines.push('', '## Reading the profiles', '', await keptAnalysis(join(dir, 'benchmarks.md')), '');
  // Formatted as `make lint` checks every committed file.
  const path = join(dir, 'benchmarks.md');
  const text = lines.join('\n');
  await writeFile(path, await format(text, { ...(await resolveConfig(path)), filepath: path }));
  files.push(join(dir, 'benchmarks.md'));
  return files;
}
