/** The shape of one harness run's results (bench/out/results.json), shared by run and report. */

/** One measured value of one row for one tool in one round. */
export interface Sample {
  readonly row: string;
  readonly tool: string;
  readonly round: number;
  readonly value: number;
  /** Per-process parts of a memory or CPU value. */
  readonly parts?: Readonly<Record<string, number>>;
}

/** The sizes and counts a run used. */
export interface Params {
  readonly quick: boolean;
  readonly rounds: number;
  readonly largeRounds: number;
  readonly smallFiles: number;
  readonly edits: number;
  readonly mediumFiles: number;
  readonly mediumFileBytes: number;
  readonly burst: number;
  readonly largeFiles: number;
  readonly scaling: readonly number[];
  readonly idleSeconds: number;
  readonly bigMiB: number;
}

/** What the machine was and how loaded it was. */
export interface Machine {
  readonly date: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly go: string;
  readonly loadBefore: string;
  readonly loadAfter: string;
  readonly minutes: number;
}

/** Top self-time functions of one CPU profile. */
export interface ProfileSummary {
  readonly scenario: string;
  readonly process: string;
  readonly wallSeconds: number;
  readonly busyPercent: number;
  readonly top: readonly { name: string; where: string; percent: number }[];
  /** Self time by file of ours, dependency package or Node internal area. */
  readonly files?: readonly { file: string; percent: number }[];
}

/** WebSocket frames and bytes counted between the daemon and the agent. */
export interface Traffic {
  readonly scenario: string;
  readonly framesToAgent: number;
  readonly framesFromAgent: number;
  readonly bytesToAgent: number;
  readonly bytesFromAgent: number;
}

/** Everything one run measured. */
export interface Results {
  readonly machine: Machine;
  readonly params: Params;
  readonly tools: readonly string[];
  readonly samples: readonly Sample[];
  /** Why a tool or row was not run. */
  readonly notRun: readonly string[];
  /** Scenarios that failed (their other figures stand). */
  readonly failures: readonly string[];
  readonly profiles: readonly ProfileSummary[];
  readonly traffic: readonly Traffic[];
  /**
   * Other runs whose samples and profiles were added by `--report a.json,b.json`: when, which
   * tools, and which profiled scenarios.
   */
  readonly mergedFrom?: readonly { date: string; tools: string[]; profiled?: string[] }[];
}

/**
 * Adds the samples of `others` (e.g. the cluster baselines, run when the cluster lock was free)
 * to `first`, and their profiles in place of `first`'s of the same scenarios; a "not run" note
 * goes when the merged samples cover what it names.
 */
export function mergeResults(first: Results, others: readonly Results[]): Results {
  const samples = [...first.samples, ...others.flatMap((r) => r.samples)];
  const ran = new Set(samples.map((s) => s.tool));
  // A scenario profiled again in a later run takes that run's profile and traffic.
  const reprofiled = new Set(others.flatMap((r) => r.profiles.map((p) => p.scenario)));
  const kept = <T extends { scenario: string }>(of: (r: Results) => readonly T[]) => [
    ...of(first).filter((item) => !reprofiled.has(item.scenario)),
    ...others.flatMap(of),
  ];
  const covered = (note: string) =>
    (note.startsWith('Cluster') && ran.has('cluster')) ||
    (note.startsWith('ksync-kube') && ran.has('ksync-kube')) ||
    (note.startsWith('Mutagen') && ran.has('mutagen'));
  return {
    ...first,
    tools: [...new Set([...first.tools, ...others.flatMap((r) => r.tools)])],
    samples,
    notRun: first.notRun.filter((note) => !covered(note)),
    failures: [...first.failures, ...others.flatMap((r) => r.failures)],
    profiles: kept((r) => r.profiles),
    traffic: kept((r) => r.traffic),
    mergedFrom: others.map((r) => ({
      date: r.machine.date,
      tools: [...new Set(r.samples.map((s) => s.tool))],
      profiled: [...new Set(r.profiles.map((p) => p.scenario))],
    })),
  };
}
