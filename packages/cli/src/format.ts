/** Pure renderers for the terminal: tables, sizes, times. */
import type { Entry } from '@ksync/core';
import { formatDuration } from './duration.ts';
import type { ConflictView, SyncView } from './view.ts';

/** `1.5 MB`-style sizes (decimal units, as `ls -h --si` and most UIs). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${unit}`;
}

/** "12s ago" for an ISO time relative to `now`, or "never". */
export function formatAgo(iso: string | undefined, now: number): string {
  if (iso === undefined) return 'never';
  const ms = Math.max(0, now - Date.parse(iso));
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/** Left-aligned columns separated by three spaces, like kubectl. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** The `ksync get` table; `wide` adds mode, URL, transfer totals and the state's detail. */
export function renderSyncTable(
  views: readonly SyncView[],
  options: { wide: boolean; now: number },
): string {
  const header = [
    'NAME',
    'STATE',
    'LOCAL',
    'REMOTE',
    'LAST SYNC',
    'FILES',
    'SIZE',
    'CONFLICTS',
    'PROBLEMS',
  ];
  if (options.wide) header.push('MODE', 'TARGET', 'TRANSFERRED', 'DETAIL');
  const rows = views.map((v) => {
    const row = [
      v.name,
      v.state,
      v.local,
      v.remote,
      formatAgo(v.lastSync, options.now),
      String(v.files),
      formatBytes(v.bytes),
      String(v.conflicts),
      String(v.problems.length),
    ];
    if (options.wide) {
      row.push(
        v.mode,
        v.url,
        `${v.transferredFiles} files, ${formatBytes(v.transferredBytes)}`,
        v.error ?? v.description,
      );
    }
    return row;
  });
  const table = renderTable(header, rows);
  const withTargets = views.filter((v) => v.targets !== undefined);
  if (withTargets.length === 0) return table;
  return table + '\n' + renderTargetTable(withTargets, options);
}

/**
 * The containers of Kubernetes syncs, one row each; a sync with none says what it waits for.
 * `wide` adds the last reload hook's outcome and the error.
 */
export function renderTargetTable(
  views: readonly SyncView[],
  options: { wide: boolean; now: number },
): string {
  const header = ['SYNC', 'POD', 'CONTAINER', 'NODE', 'STATE', 'LAST SYNC', 'CONFLICTS'];
  if (options.wide) header.push('RELOAD', 'DETAIL');
  const rows: string[][] = [];
  for (const v of views) {
    const targets = v.targets ?? [];
    if (targets.length === 0) {
      rows.push([
        v.name,
        '-',
        '-',
        '-',
        v.state,
        '-',
        '-',
        ...(options.wide ? ['-', v.error ?? v.description] : []),
      ]);
      continue;
    }
    for (const t of targets) {
      const row = [
        v.name,
        t.pod,
        t.container,
        t.node,
        t.state,
        formatAgo(t.lastSync, options.now),
        String(t.conflicts),
      ];
      if (options.wide) row.push(t.reload ?? '-', t.error ?? '');
      rows.push(row);
    }
  }
  const waiting = views
    .filter((v) => v.state === 'waiting')
    .map((v) => `${v.name}: ${v.error ?? v.description}\n`)
    .join('');
  return renderTable(header, rows) + waiting;
}

/** The `ksync conflicts` table. */
export function renderConflictTable(views: readonly ConflictView[]): string {
  return renderTable(
    ['SYNC', 'PATH', 'STATE', 'LOCAL', 'REMOTE', 'DETECTED'],
    views.map((c) => [
      c.sync,
      c.path === '' ? '/' : c.path,
      c.state,
      c.local,
      c.remote,
      c.detectedAt,
    ]),
  );
}

/** A short description of one side's entry in a conflict. */
export function describeEntry(entry: Entry | undefined): string {
  if (entry === undefined) return 'deleted';
  switch (entry.kind) {
    case 'directory':
      return 'directory';
    case 'symlink':
      return `symlink -> ${entry.target}`;
    case 'file':
      return `file, ${formatBytes(entry.size)}${entry.executable ? ', executable' : ''}`;
  }
}
