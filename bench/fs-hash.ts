/**
 * Hash benchmark: re-measures sha256 (what ksync uses) against sha1 and md5 with node:crypto on
 * this machine, over a 64 MiB buffer (throughput) and 4 KiB buffers (per-file overhead).
 * Usage: node bench/fs-hash.ts
 */
import { createHash, randomBytes } from 'node:crypto';

const big = randomBytes(64 * 1024 * 1024);
const small = randomBytes(4096);
for (const algorithm of ['sha256', 'sha1', 'md5']) {
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    createHash(algorithm).update(big).digest();
    best = Math.max(best, big.length / 1e6 / ((performance.now() - t) / 1000));
  }
  const n = 50_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) createHash(algorithm).update(small).digest();
  const perSecond = n / ((performance.now() - t) / 1000);
  console.log(
    `${algorithm.padEnd(6)} ${best.toFixed(0).padStart(5)} MB/s (64 MiB)   ${(perSecond / 1000).toFixed(0)}k 4 KiB buffers/s`,
  );
}
