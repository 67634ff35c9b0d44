/**
 * Direct mode: the agent serves one directory (`--root DIR`) and an `open` for `/app` means
 * `DIR/app`. Container targets are refused: this agent does not look into containers.
 */
import { wireError } from '@ksync/core';
import { resolveRootBelow, type RootResolver } from './resolver.ts';

/** Serves remote roots below the absolute, trusted directory `root`. */
export function createDirectoryResolver(root: string): RootResolver {
  return {
    resolve(open) {
      if (open.target !== undefined) {
        return {
          ok: false,
          error: wireError(
            'bad-root',
            'this agent serves a directory (--root), not containers; start it with --containers',
          ),
        };
      }
      const below = resolveRootBelow(root, open.root);
      if (!below.ok) return below;
      return {
        ok: true,
        served: { root: below.absolute, fields: { root: open.root }, check: () => undefined },
      };
    },
  };
}
