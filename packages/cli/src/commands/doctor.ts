/** `ksync doctor [-n NAMESPACE] [-o table|json|yaml]`. */
import { readKubeTarget, runDoctor, type Check, type DoctorReport } from '@ksync/kube';
import { stringOption, type CommandRun } from '../command.ts';
import { EXIT } from '../errors.ts';
import { kubeFlags } from '../kube-flags.ts';
import { parseOutputFormat, type Output } from '../output.ts';

/** Prints the checklist; exits 1 when any check failed. */
export const run: CommandRun = async (ctx, input) => {
  const format = parseOutputFormat(stringOption(input, 'output') ?? 'table', [
    'table',
    'json',
    'yaml',
  ]);
  const target = readKubeTarget(kubeFlags(ctx, input));
  const report = await runDoctor(target);
  ctx.output.result(report, format, () => renderReport(report, ctx.output));
  return report.ok ? EXIT.ok : EXIT.user;
};

const MARKS = { ok: ['✓', 'green'], warn: ['!', 'yellow'], fail: ['✗', 'red'] } as const;

function renderReport(report: DoctorReport, output: Output): string {
  const width = Math.max(...report.checks.map((c) => c.title.length));
  const lines = report.checks.map((c: Check) => {
    const [mark, style] = MARKS[c.status];
    const head = `${output.paint(style, mark)} ${c.title.padEnd(width)}  ${c.detail}`;
    return c.fix === undefined ? head : `${head}\n  ${' '.repeat(width)}  fix: ${c.fix}`;
  });
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  lines.push(
    failed === 0
      ? 'all checks passed'
      : `${failed} check${failed === 1 ? '' : 's'} failed; run the fixes above, then 'ksync doctor' again`,
  );
  return `${lines.join('\n')}\n`;
}
