// Reference token ids from Hugging Face's own tokenizers library (npm `tokenizers`, the Rust implementation's Node
// binding) for the engine's tokenizer.json tests. Peers and tooling only: the engine never runs this.
// Usage: node tokenizer_ids_peer.js TEXTS.json OUT.json NAME=tokenizer.json [NAME=tokenizer.json ...]
const fs = require('fs');
const crypto = require('crypto');
const { Tokenizer } = require('tokenizers');

(async () => {
  const [textsPath, outPath, ...pairs] = process.argv.slice(2);
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  const out = { generator: 'perf/peers/tokenizer_ids_peer.js with npm tokenizers@' + require('tokenizers/package.json').version, tokenizers: {} };
  for (const pair of pairs) {
    const [name, file] = pair.split('=');
    const tok = Tokenizer.fromFile(file);
    const cases = [];
    for (const text of texts) {
      const encoding = await tok.encode(text); // add_special_tokens = true: the post-processor's BOS, as transformers encodes
      cases.push({ text, ids: Array.from(encoding.getIds()) });
    }
    out.tokenizers[name] = { sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'), cases };
  }
  fs.writeFileSync(outPath, JSON.stringify(out, null, 1) + '\n');
})();
