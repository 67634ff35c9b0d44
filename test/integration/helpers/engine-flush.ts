/** Child process for the crash test: runs one first sync of `<base>/local` into `<base>/remote`. */
import { startPair } from './engine-pair.ts';

const base = process.argv[2];
if (base === undefined) throw new Error('usage: engine-flush.ts BASE');
const pair = await startPair({ base, manual: true });
await pair.session.flush();
await pair.close();
