// Peer for the `tokenizer` perf suite: Hugging Face tokenizers (npm tokenizers, Rust) load time and encoding speed of
// a tokenizer.json on a text file encoded whole. Usage (after run_tokenizer_ids_peer.sh installed the package):
//   NODE_PATH=.cache/peers/tokenizers-node/node_modules node perf/peers/tokenizer_speed_peer.js TOKENIZER.json TEXT
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
(async () => {
  const [file, textFile] = process.argv.slice(2);
  const text = fs.readFileSync(textFile, 'utf8');
  let t = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(file);
  const load = Number(process.hrtime.bigint() - t) / 1e9;
  t = process.hrtime.bigint();
  const ids = Array.from((await tok.encode(text)).getIds());
  const cold = Number(process.hrtime.bigint() - t) / 1e9;
  const hash = require('crypto').createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16);
  let tokens = ids.length, best = Infinity;
  for (let r = 0; r < 3; r++) {
    t = process.hrtime.bigint();
    tokens = (await tok.encode(text)).getIds().length;
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  console.log(`  HF tokenizers (npm)      load ${load.toFixed(2)} s, ${tokens} tokens (ids sha256 ${hash}), first encode ${cold.toFixed(3)} s, ` +
    `then ${best.toFixed(3)} s (best of 3), ${Math.round(tokens / best)} tokens/s`);
})();
