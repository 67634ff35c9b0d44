/**
 * Sleeps `ms` unless `signal` aborts first; resolves either way. Unlike the session clock
 * (`systemClock` from @ksync/fs) this timer keeps the process alive: a command waiting for
 * something must not exit mid-wait.
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
