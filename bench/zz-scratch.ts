import { benchIngest } from './ingest.js';
const r = await benchIngest({ total: 5000, connections: 50, rounds: Number(process.env.ROUNDS ?? 2), warmup: 3000 });
for (const x of r.rounds) console.log(process.env.TAG ?? '', 'bare', x.bare.perSecond.toFixed(0), x.bare.p99.toFixed(1), JSON.stringify(x.bare.cpu), '| aiw', x.aiworker.perSecond.toFixed(0), x.aiworker.p50.toFixed(1), x.aiworker.p99.toFixed(1), JSON.stringify(x.aiworker.cpu), 'ratio', x.ratio.toFixed(2));
process.exit(0);
