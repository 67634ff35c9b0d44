/**
 * Line coverage of a child process from V8's own block coverage: start the child with
 * `NODE_V8_COVERAGE=<dir>`, let it exit, then ask which lines of a source file ran. Node strips
 * TypeScript types by replacing them with spaces, so V8's offsets are offsets into the `.ts`
 * file, and the lines counted are those with code left after stripping (no type-only lines).
 */
import { readFile, readdir } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Range {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly count: number;
}

interface ScriptCoverage {
  readonly url: string;
  readonly functions: readonly { readonly ranges: readonly Range[] }[];
}

/** Lines of one file with code on them, and how many of those ran. */
export interface FileCoverage {
  readonly file: string;
  readonly lines: number;
  readonly covered: number;
}

/** Line coverage of `files` (absolute paths) from the coverage files a process wrote in `dir`. */
export async function readLineCoverage(
  dir: string,
  files: readonly string[],
): Promise<FileCoverage[]> {
  const scripts: ScriptCoverage[] = [];
  for (const name of await readdir(dir)) {
    const json = JSON.parse(await readFile(join(dir, name), 'utf8')) as {
      result: ScriptCoverage[];
    };
    scripts.push(...json.result);
  }
  return Promise.all(
    files.map(async (file) => {
      const source = stripTypeScriptTypes(await readFile(file, 'utf8'));
      const url = pathToFileURL(file).href;
      // Outer ranges first, so that each nested range overrides its parent's count.
      const ranges = scripts
        .filter((s) => s.url === url)
        .flatMap((s) => s.functions.flatMap((f) => f.ranges))
        .sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
      const counts = new Int32Array(source.length).fill(-1);
      for (const r of ranges) counts.fill(r.count, r.startOffset, r.endOffset);
      let lines = 0;
      let covered = 0;
      let offset = 0;
      for (const line of source.split('\n')) {
        const code = line.trim();
        if (code !== '' && !/^(\/\/|\/\*|\*|import |export \* )/.test(code) && code !== '}') {
          lines++;
          const start = offset + line.indexOf(code);
          if ((counts[start] ?? 0) > 0) covered++;
        }
        offset += line.length + 1;
      }
      return { file, lines, covered };
    }),
  );
}
