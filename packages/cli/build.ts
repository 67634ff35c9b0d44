/**
 * `npm run build -w ksync`: compiles the CLI with the workspace packages it imports into dist/
 * (tsc), then rewrites the `@ksync/*` specifiers in the output to relative paths, so that the
 * packed tarball needs only its npm dependencies. Run from packages/cli.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

/** Where each workspace entry point lands in dist/. */
const ENTRIES: Readonly<Record<string, string>> = {
  '@ksync/core': 'core/src/index.js',
  '@ksync/fs': 'fs/src/index.js',
  '@ksync/agent': 'agent/src/index.js',
  '@ksync/agent/client': 'agent/src/client.js',
  '@ksync/kube': 'kube/src/index.js',
};

rmSync(dist, { recursive: true, force: true });
const tsc = join(here, '../../node_modules/.bin/tsc');
const result = spawnSync(tsc, ['-p', join(here, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) throw new Error(`tsc failed with exit ${result.status}`);

let rewritten = 0;
for (const file of walk(dist)) {
  if (!file.endsWith('.js')) continue;
  const text = readFileSync(file, 'utf8');
  const next = text.replace(
    /(from\s+|import\(\s*)(['"])(@ksync\/[a-z/]+)\2/g,
    (match, lead: string, quote: string, spec: string) => {
      const target = ENTRIES[spec];
      if (target === undefined) throw new Error(`${file}: no dist entry for ${spec}`);
      let rel = relative(dirname(file), join(dist, target));
      if (!rel.startsWith('.')) rel = `./${rel}`;
      rewritten++;
      return `${lead}${quote}${rel}${quote}`;
    },
  );
  if (next !== text) writeFileSync(file, next);
}
// The package's two commands: ksync, and ksync-agent for the remote side.
for (const bin of ['cli/src/main.js', 'agent/src/main.js']) chmodSync(join(dist, bin), 0o755);
process.stdout.write(`built ${dist} (${rewritten} workspace imports rewritten)\n`);

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
