// Encodes fixed samples with Qwen3's tokenizer.json through tokenizers.js (@huggingface/tokenizers) and writes the
// fixture read by adept.io.tokenizer.Qwen3TokenizerTest. Run through record_qwen3_ids.sh.
//
// The fixture holds
//  - "samples": texts with their ids: hand-written strings (prose, LaTeX, code, numbers, whitespace runs, accents,
//    CJK, emoji, special-token text) and short excerpts of public-domain documents of corpora/general_en;
//  - "documents": whole documents of ../shared/data/corpora, by file and line, with the SHA-256 of the text, the
//    number of ids and the SHA-256 of the ids written as decimal numbers joined by "," (the text is not copied).
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import crypto from "node:crypto";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";

const [dataDir, outFile] = process.argv.slice(2);
// The package does not export its package.json; read it from node_modules beside this script.
const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(fs.readFileSync(path.join(here, "node_modules", "@huggingface", "tokenizers", "package.json"), "utf8"));

const tokDir = path.join(dataDir, "tokenizers", "qwen3");
const tokenizerJson = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(tokDir, "tokenizer.json.gz"))).toString("utf8"));
const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer_config.json"), "utf8"));
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
const encode = (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;
const sha256 = (s) => crypto.createHash("sha256").update(s, "utf8").digest("hex");

const handWritten = [
  ["prose", "The tokenizer splits text into pieces that the model has seen during pretraining. It doesn't know words; it knows bytes, and merges of bytes."],
  ["prose-case", "I'M SURE WE'LL SEE THAT THEY'VE GONE. She'd said it's 'fine', hadn't she?"],
  ["latex", "Let $f(x) = \\sum_{n=0}^{\\infty} \\frac{x^n}{n!}$; then $f'(x) = f(x)$ and \\[ \\int_0^1 e^{-x^2}\\,dx \\approx 0.7468. \\]"],
  ["math-unicode", "∀ε>0 ∃δ>0: |x−a|<δ ⇒ |f(x)−f(a)|<ε;  ∑ᵢ aᵢ² ≤ (∑ᵢ |aᵢ|)²,  √2 ≈ 1.41421356,  π·r²,  x ∈ ℝⁿ, A ⊆ B ∪ C."],
  ["arithmetic", "Question: A baker sold 1,234 loaves at $3.75 each and 56 cakes at $12.50. How much?\nAnswer: 1234*3.75 = 4627.5; 56*12.5 = 700; total 5327.50\n#### 5327.5"],
  ["numbers", "0 7 42 100 2024-01-31 12:34:56 +1 (555) 010-9999 3.14159265358979 6.022e23 -0.000001 1e-9 0x7fffffff 1_000_000 ¾ ½ ⅓ 255.255.255.0"],
  ["python", "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fib(i) for i in range(10)])  # [0, 1, 1, 2, ...]\n"],
  ["java", "public final class Main {\n\tpublic static void main(String[] args) {\n\t\tSystem.out.println(\"Hello, \" + args.length + \" args\");\n\t}\n}\n"],
  ["json", "{\"id\": 17, \"tags\": [\"a\", \"b\"], \"ok\": true, \"ratio\": 0.25, \"nested\": {\"k\": null}}"],
  ["whitespace", "two  spaces,   three,    four\n\n\nthree newlines\r\nCRLF\ttab\t\ttabs   \n   leading and trailing   "],
  ["whitespace-only", "   \n\t \n  "],
  ["accents", "Crème brûlée, naïve café, Ångström, Größe, señor, São Paulo, Dvořák, Łódź, Ærøskøbing, façade."],
  ["decomposed", "Cafe\u0301 and re\u0301sume\u0301 written with combining accents (NFC normalises them)."],
  ["cjk", "中文分词测试：今天天气很好。日本語のテキスト、ひらがなとカタカナ。한국어 문장도 있습니다."],
  ["scripts", "Русский текст. Ελληνικά γράμματα. עברית. العربية. हिन्दी भाषा. ภาษาไทย."],
  ["emoji", "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🚀✨ — and symbols © ® ™ € £ ¥ • … “quotes” ‘single’ «guillemets»."],
  ["special-token-text", "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi.<|im_end|><|endoftext|>"],
  ["controls", "zero\u200bwidth, nbsp\u00a0here, soft\u00adhyphen, bell\u0007 and del\u007f."],
  ["url-path", "See https://example.org/a/b?x=1&y=two#frag or /usr/local/bin/java --version; email a.b@c.de"],
  ["empty", ""],
];

function readJsonl(rel) {
  const text = zlib.gunzipSync(fs.readFileSync(path.join(dataDir, rel))).toString("utf8");
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

// Excerpts: the first document of each public-domain source of corpora/general_en, cut to at most 700 characters
// at a space (public domain text, so it may be committed).
const general = readJsonl("corpora/general_en.jsonl.gz");
const excerpts = [];
for (const source of ["austen", "moby_dick", "sotu", "web_bible"]) {
  const i = general.findIndex((d) => d.source === source);
  let t = general[i].text;
  if (t.length > 700) t = t.slice(0, t.lastIndexOf(" ", 700));
  excerpts.push([`general_en:${i}:${source}`, t]);
}

const samples = [...handWritten, ...excerpts].map(([name, text]) => ({ name, text, ids: encode(text) }));

// Whole documents, by reference: every k-th line of each corpus, 100 per corpus.
const documents = [];
for (const rel of ["corpora/general_en.jsonl.gz", "corpora/math.jsonl.gz", "corpora/medical.jsonl.gz"]) {
  const rows = rel.includes("general_en") ? general : readJsonl(rel);
  const step = Math.floor(rows.length / 100);
  for (let line = 0; line < rows.length && documents.filter((d) => d.file === rel).length < 100; line += step) {
    const text = rows[line].text;
    const ids = encode(text);
    documents.push({ file: rel, line, text_sha256: sha256(text), n_ids: ids.length, ids_sha256: sha256(ids.join(",")) });
  }
}

const fixture = {
  about: "Qwen3 token ids (no special tokens added) recorded by tools/tokenizer/record_qwen3_ids.sh; see that script.",
  implementation: `${pkg.name}@${pkg.version} (node ${process.version})`,
  tokenizer: "shared/data/tokenizers/qwen3/tokenizer.json.gz + tokenizer_config.json",
  samples,
  documents,
};
// One sample or document per line keeps the file small and its diffs readable.
const lines = [
  "{",
  `  "about": ${JSON.stringify(fixture.about)},`,
  `  "implementation": ${JSON.stringify(fixture.implementation)},`,
  `  "tokenizer": ${JSON.stringify(fixture.tokenizer)},`,
  `  "samples": [`,
  samples.map((s) => "    " + JSON.stringify(s)).join(",\n"),
  "  ],",
  `  "documents": [`,
  documents.map((d) => "    " + JSON.stringify(d)).join(",\n"),
  "  ]",
  "}",
];
fs.writeFileSync(outFile, lines.join("\n") + "\n");
console.log(`wrote ${outFile}: ${samples.length} samples, ${documents.length} documents, ${pkg.name}@${pkg.version}`);
