// Usage: node ioredis_cluster.js host:port [host:port ...]
// Writes 500 keys through ioredis Cluster, reads them back, MGETs a hash-tagged
// group; prints "OK n" and exits 0, or prints the error and exits 1.
'use strict';
const Redis = require('ioredis');

async function main() {
  const seeds = process.argv.slice(2).map((a) => {
    const [host, port] = a.split(':');
    return { host, port: Number(port) };
  });
  const cluster = new Redis.Cluster(seeds, { enableOfflineQueue: true, redisOptions: { connectTimeout: 5000 } });
  const n = 500;
  for (let i = 0; i < n; i++) await cluster.set('io:' + i, 'v' + i);
  for (let i = 0; i < n; i++) {
    const v = await cluster.get('io:' + i);
    if (v !== 'v' + i) throw new Error('io:' + i + ' -> ' + v);
  }
  const keys = [];
  for (let i = 0; i < 20; i++) { keys.push('{grp}:' + i); await cluster.set('{grp}:' + i, String(i)); }
  const vals = await cluster.mget(keys);
  vals.forEach((v, i) => { if (v !== String(i)) throw new Error('mget ' + i + ' -> ' + v); });
  await cluster.quit();
  console.log('OK ' + n);
}

const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 60000);
main().then(() => { clearTimeout(timer); process.exit(0); },
            (e) => { console.error('ERROR ' + (e && e.stack || e)); process.exit(1); });
