/** The kubectl-style flags every Kubernetes command takes, read into `@ksync/kube`'s form. */
import type { KubeFlags } from '@ksync/kube';
import { stringOption, type CommandContext, type CommandInput, type OptionDef } from './command.ts';

/** `--context` and `--kubeconfig`, as kubectl spells them. */
export const KUBE_OPTIONS: readonly OptionDef[] = [
  { flags: '--context <name>', description: 'the kubeconfig context to use' },
  {
    flags: '--kubeconfig <file>',
    description: 'the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config)',
  },
];

/** The flags and environment as `readKubeTarget` takes them. */
export function kubeFlags(ctx: CommandContext, input: CommandInput): KubeFlags {
  const context = stringOption(input, 'context');
  const kubeconfig = stringOption(input, 'kubeconfig');
  const namespace = stringOption(input, 'namespace');
  return {
    env: ctx.env,
    ...(context === undefined ? {} : { context }),
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    ...(namespace === undefined ? {} : { namespace }),
  };
}
