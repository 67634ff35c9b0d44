/**
 * What the agent tells a client about its node in `welcome`, for `ksync doctor`: the node name,
 * the inotify limits (the agent's watchers share uid 0's budget with every root process on the
 * node), and which container runtimes it sees running.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { NodeFacts } from '@ksync/core';

type Runtime = NodeFacts['runtimes'][number];

/** Process names that reveal a runtime (`comm` is cut to 15 characters). */
const RUNTIME_PROCESSES: readonly [RegExp, Runtime][] = [
  [/^containerd(-shim.*)?$/, 'containerd'],
  [/^(crio|conmon)$/, 'cri-o'],
  [/^dockerd$/, 'docker'],
];

function readNumber(path: string): number | undefined {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the runtimes whose processes run, from `<proc>/*\/comm`. */
export function readRuntimes(proc = '/proc'): Runtime[] {
  const seen = new Set<Runtime>();
  for (const name of readdirSync(proc)) {
    if (!/^[0-9]+$/.test(name)) continue;
    let comm: string;
    try {
      comm = readFileSync(`${proc}/${name}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    for (const [pattern, runtime] of RUNTIME_PROCESSES) if (pattern.test(comm)) seen.add(runtime);
  }
  return [...seen].sort();
}

/** Reads the node facts; `runtimes` is passed in because it is scanned once at start-up. */
export function readNodeFacts(options: {
  nodeName: string | undefined;
  runtimes: readonly Runtime[];
  proc?: string;
}): NodeFacts {
  const proc = options.proc ?? '/proc';
  const watches = readNumber(`${proc}/sys/fs/inotify/max_user_watches`);
  const instances = readNumber(`${proc}/sys/fs/inotify/max_user_instances`);
  return {
    ...(options.nodeName !== undefined && { name: options.nodeName }),
    inotify: {
      ...(watches !== undefined && { maxUserWatches: watches }),
      ...(instances !== undefined && { maxUserInstances: instances }),
    },
    runtimes: [...options.runtimes],
  };
}
