/**
 * `npm run bundle -w @ksync/agent`: bundles the agent (its sources, the workspace packages and
 * the npm dependencies) into one ES module, `dist/ksync-agent.mjs`, which is all the agent image
 * needs next to `node`. esbuild does it in well under a second and is the usual tool for this;
 * tsc cannot bundle.
 *
 * ws loads the optional native helpers `bufferutil` and `utf-8-validate` with `require` inside a
 * try block: they stay external, the `require` of the banner fails to find them, and ws falls
 * back to its JavaScript code, so the bundle has no native parts.
 */
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Where the bundle lands by default. */
export const AGENT_BUNDLE = join(here, 'dist/ksync-agent.mjs');

/** Bundles the agent into `outfile`; returns its size in bytes. */
export async function bundleAgent(outfile = AGENT_BUNDLE): Promise<number> {
  await build({
    entryPoints: [join(here, 'src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    external: ['bufferutil', 'utf-8-validate'],
    // CommonJS dependencies (ws) call require(); an ES module has none of its own.
    banner: {
      js: "import { createRequire as __ksyncRequire } from 'node:module'; const require = __ksyncRequire(import.meta.url);",
    },
    legalComments: 'none',
    logLevel: 'warning',
  });
  return statSync(outfile).size;
}

if (import.meta.main) {
  const bytes = await bundleAgent();
  process.stdout.write(`bundle: ${AGENT_BUNDLE} (${bytes} bytes)\n`);
}
