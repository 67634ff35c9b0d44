/**
 * The Prometheus text exposition (version 0.0.4), shared by the agent's `/metrics` and the CLI
 * daemon's (`ksync watch --metrics-addr`). Both expose a handful of counters, gauges and one
 * histogram, which is a few lines to write out, so this is written here rather than pulling
 * prom-client (and its OpenTelemetry dependency) into the agent's single-file bundle.
 */

/** The Content-Type of the text exposition. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One metric: its name, type, help text, and samples as label sets with values. */
export interface MetricFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  /** Each sample: an optional name suffix (`_bucket`, `_sum`), its labels, and its value. */
  readonly samples: readonly Sample[];
}

/** One line of a family. */
export interface Sample {
  readonly suffix?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A histogram with fixed upper bounds (in seconds, say), cumulative as Prometheus wants. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #count = 0;
  #sum = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  /** Records one observation. */
  observe(value: number): void {
    this.#count++;
    this.#sum += value;
    this.#bounds.forEach((bound, i) => {
      if (value <= bound) this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    });
  }

  /** The family of this histogram under `name`. */
  family(name: string, help: string): MetricFamily {
    return {
      name,
      type: 'histogram',
      help,
      samples: [
        ...this.#bounds.map((bound, i) => ({
          suffix: '_bucket',
          labels: { le: String(bound) },
          value: this.#counts[i] ?? 0,
        })),
        { suffix: '_bucket', labels: { le: '+Inf' }, value: this.#count },
        { suffix: '_sum', value: this.#sum },
        { suffix: '_count', value: this.#count },
      ],
    };
  }
}

/** This process's resident memory, as client libraries name it. */
export function residentMemoryFamily(): MetricFamily {
  return {
    name: 'process_resident_memory_bytes',
    type: 'gauge',
    help: 'Resident memory size in bytes.',
    samples: [{ value: process.memoryUsage.rss() }],
  };
}

/** The text exposition of `families`. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples)
      lines.push(`${f.name}${s.suffix ?? ''}${labels(s.labels)} ${s.value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `{a="1",b="2"}`, with label values escaped as the format requires. */
function labels(set: Readonly<Record<string, string>> | undefined): string {
  if (set === undefined || Object.keys(set).length === 0) return '';
  const escape = (v: string): string =>
    v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${Object.entries(set)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(',')}}`;
}
