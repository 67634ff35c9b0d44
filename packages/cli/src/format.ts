/** Pure renderers for the terminal: tables, sizes, times. */
import type { Entry, HaltDetail, Problem, TransferProgress } from '@ksync/core';
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

/** "transferring 120 MB of 400 MB (3 of 10 files)": a cycle's content transfer so far. */
export function formatTransfer(t: TransferProgress): string {
  return `transferring ${formatBytes(t.doneBytes)} of ${formatBytes(t.bytes)} (${t.doneFiles} of ${t.files} files)`;
}

/**
 * What a sync is doing, in a line: its error, its halt, its problems, the transfer's progress,
 * or the state's description. Never "in sync" while a problem stands.
 */
export function describeActivity(v: SyncView): string {
  if (v.error !== undefined) return v.error;
  if (v.halt !== undefined) return formatHalt(v.name, v.halt);
  if (v.transfer !== undefined) return formatTransfer(v.transfer);
  if (v.problems.length > 0) return formatProblems(v.name, v.problems);
  return v.description;
}

/** "2 problems: remote build/x: permission denied (and 1 more); see: ksync describe web". */
export function formatProblems(name: string, problems: readonly Problem[]): string {
  const [first] = problems;
  if (first === undefined) return 'no problems';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return `${problems.length} problem${problems.length === 1 ? '' : 's'}: ${formatProblem(first)}${more}; see: ksync describe ${name}`;
}

/** One problem: its side, path and text. */
export function formatProblem(p: Problem): string {
  return `${p.side === undefined ? '' : `${p.side} `}${p.path === '' ? '/' : p.path}: ${p.message}`;
}

/**
 * A halt in one line: what the cycle would do (how many files, on which side, the bound) and
 * the commands to preview it, allow it once, or start over.
 */
export function formatHalt(name: string, h: HaltDetail): string {
  const where = { local: 'locally', remote: 'on the remote', both: 'on both sides' }[h.side];
  const files = `${h.deletions} file${h.deletions === 1 ? '' : 's'}`;
  const other = { local: 'remote', remote: 'local', both: 'a' }[h.side];
  const what = {
    'deletion-bound': `this cycle would delete ${files} ${where}, more than the bound of ${h.bound}`,
    'root-deleted': `the ${other} sync root was deleted; propagating that would delete ${files} ${where}`,
    'root-emptied': `the ${other} sync root was emptied (a container restart without a volume?); propagating that would delete ${files} ${where}`,
  }[h.reason];
  return `halted: ${what}; see which with: ksync describe ${name}; allow it once: ksync resume ${name}; or merge both sides afresh: ksync reset ${name}`;
}

/** "12s ago" for an ISO time relative to `now`, or "never". */
export function formatAgo(iso: string | undefined, now: number): string {
  if (iso === undefined) return 'never';
  const ms = Math.max(0, now - Date.parse(iso));
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/**
 * Left-aligned columns separated by three spaces, like kubectl. Control characters in cells (a
 * newline in a file name) are shown escaped, so that one row stays one line.
 */
export function renderTable(
  header: readonly string[],
  cellRows: readonly (readonly string[])[],
): string {
  const rows = cellRows.map((r) => r.map(escapeControls));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/**
 * The `ksync get` table; `wide` adds mode, URL, transfer totals, reconnects, the state's detail
 * and the latest error (kept after the sync recovered).
 */
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
  if (options.wide)
    header.push('MODE', 'TARGET', 'TRANSFERRED', 'RECONNECTS', 'DETAIL', 'LAST ERROR');
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
        String(v.reconnects),
        describeActivity(v),
        v.lastError ?? '-',
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
 * `wide` adds the last reload hook's outcome, reconnects, the error and the latest error (kept
 * after the target recovered).
 */
export function renderTargetTable(
  views: readonly SyncView[],
  options: { wide: boolean; now: number },
): string {
  const header = ['SYNC', 'POD', 'CONTAINER', 'NODE', 'STATE', 'LAST SYNC', 'CONFLICTS'];
  if (options.wide) header.push('RELOAD', 'RECONNECTS', 'DETAIL', 'LAST ERROR');
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
        ...(options.wide ? ['-', '-', v.error ?? v.description, '-'] : []),
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
      if (options.wide) {
        row.push(t.reload ?? '-', String(t.reconnects), t.error ?? '', t.lastError ?? '-');
      }
      rows.push(row);
    }
  }
  const waiting = views
    .filter((v) => v.state === 'waiting')
    .map((v) => `${v.name}: ${v.error ?? v.description}\n`)
    .join('');
  return renderTable(header, rows) + waiting;
}

/**
 * `ksync describe NAME`: one sync in full, as `kubectl describe` shows an object: its fields,
 * then every problem with its side, then what a halt would delete.
 */
export function renderDescribe(v: SyncView, now: number): string {
  const fields: [string, string][] = [
    ['Name', v.name],
    ['State', `${v.state}: ${describeActivity(v)}`],
    ['Mode', v.mode],
    ['Local', v.local],
    ['Remote', `${v.remote} on ${v.url}`],
    ['Last sync', formatAgo(v.lastSync, now)],
    ['Files', `${v.files} files, ${v.directories} directories, ${formatBytes(v.bytes)}`],
    ['Conflicts', v.conflicts === 0 ? '0' : `${v.conflicts}; see: ksync conflicts ${v.name}`],
    ['Transferred', `${v.transferredFiles} files, ${formatBytes(v.transferredBytes)} since start`],
    ['Problems', String(v.problems.length)],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  let text = fields
    .map(([k, value]) => `${`${k}:`.padEnd(width)}${escapeControls(value)}`)
    .join('\n');
  text += '\n';
  if (v.problems.length > 0) {
    text += `\n${renderTable(
      ['SIDE', 'PATH', 'PROBLEM'],
      v.problems.map((p) => [p.side ?? '', p.path === '' ? '/' : p.path, p.message]),
    )}`;
  }
  if (v.halt !== undefined && v.halt.preview.length > 0) {
    const shown = v.halt.preview.length;
    text += `\nWould delete (${shown === v.halt.deletions ? 'all' : `the first ${shown} of`} ${v.halt.deletions}):\n`;
    text += renderTable(
      ['SIDE', 'PATH'],
      v.halt.preview.map((p) => [p.side, p.path]),
    );
  }
  return text;
}

/** The `ksync conflicts` table. */
export function renderConflictTable(views: readonly ConflictView[]): string {
  // Kubernetes syncs name the container; one whose pod is gone says so.
  const targets = views.some((c) => c.target !== undefined);
  return renderTable(
    ['SYNC', ...(targets ? ['TARGET'] : []), 'PATH', 'STATE', 'LOCAL', 'REMOTE', 'DETECTED'],
    views.map((c) => [
      c.sync,
      ...(targets ? [`${c.target ?? '-'}${c.targetGone === true ? ' (gone)' : ''}`] : []),
      c.path === '' ? '/' : c.path,
      c.state,
      c.local,
      c.remote,
      c.detectedAt,
    ]),
  );
}

/** `text` with control characters written as escapes (`\n`, `\t`, `\x1b`). */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** `word` quoted for a POSIX shell when it needs it, for commands we suggest. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  // A control character (a newline in a name) is spelled out with bash and zsh's $'...'.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(word)) {
    return `$'${escapeControls(word.replace(/[\\']/g, (c) => `\\${c}`))}'`;
  }
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The `ksync resolve` command for a conflict at `path` ('' is the root). */
export function resolveCommand(sync: string, path: string): string {
  return `ksync resolve ${sync} ${shellQuote(path === '' ? '/' : path)} --keep local|remote`;
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
