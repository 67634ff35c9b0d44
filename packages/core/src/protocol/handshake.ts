/**
 * The version handshake. The CLI and the agent must run the same ksync release (and so the same
 * protocol revision); a mismatch is refused before anything else happens, with a message that
 * says which side to upgrade.
 */
/** Compares dotted numeric versions (`0.10.0` > `0.9.3`); non-numeric parts compare as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (Number.isInteger(nx) && Number.isInteger(ny)) return nx < ny ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** What the two sides announced in `hello`. */
export interface VersionPair {
  readonly cliVersion: string;
  readonly cliProtocol: number;
  readonly agentVersion: string;
  readonly agentProtocol: number;
}

/**
 * Returns undefined when the two sides may talk, or the one-line refusal, e.g.
 * "CLI 0.2.0, agent 0.1.0: upgrade the agent with `ksync init --upgrade`".
 */
export function checkVersions(pair: VersionPair): string | undefined {
  const { cliVersion, agentVersion } = pair;
  if (cliVersion === agentVersion && pair.cliProtocol === pair.agentProtocol) return undefined;
  // Same version, different protocol (a development build): the protocols are the difference.
  const head =
    cliVersion === agentVersion
      ? `CLI ${cliVersion} (protocol ${pair.cliProtocol}), agent ${agentVersion} (protocol ${pair.agentProtocol})`
      : `CLI ${cliVersion}, agent ${agentVersion}`;
  const order = compareVersions(cliVersion, agentVersion);
  if (order > 0 || (order === 0 && pair.cliProtocol > pair.agentProtocol)) {
    return `${head}: upgrade the agent with \`ksync init --upgrade\``;
  }
  if (order < 0 || pair.cliProtocol < pair.agentProtocol) {
    return `${head}: upgrade the CLI to ${agentVersion}, or install agent ${cliVersion} with \`ksync init --upgrade\``;
  }
  return `${head}: protocol ${pair.cliProtocol} vs ${pair.agentProtocol}; reinstall the agent with \`ksync init --upgrade\``;
}
