/** Pure renderers for the terminal: tables, sizes, times. */
import type { Entry, TransferProgress } from '@ksync/core';
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

/** What a sync is doing, in a few words: the transfer's progress, or the state's description. */
export function describeActivity(v: SyncView): string {
  if (v.error !== undefined) return v.error;
  return v.transfer === undefined ? v.description : formatTransfer(v.transfer);
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
  if (options.wide) header.push('MODE', 'AGENT', 'TRANSFERRED', 'DETAIL');
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
        describeActivity(v),
      );
    }
    return row;
  });
  return renderTable(header, rows);
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
