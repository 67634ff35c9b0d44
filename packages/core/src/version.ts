/** ksync's release version; the CLI and the agent must match it (see the protocol handshake). */
export const KSYNC_VERSION = '0.1.0';
