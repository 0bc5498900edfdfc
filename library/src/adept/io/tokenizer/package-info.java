/**
 * Text to token ids and back for pretrained models, through Hugging Face's {@code tokenizers} library (Rust,
 * reached through DJL's JNI binding, whose jar bundles the native library) reading a model's own
 * {@code tokenizer.json}; special-token (BOS/EOS/PAD) conventions come from {@code tokenizer_config.json},
 * {@code config.json} and {@code generation_config.json}. GPT-2's original {@code encoder.json} + {@code vocab.bpe}
 * are converted to an equivalent {@code tokenizer.json} by {@link adept.io.tokenizer.Gpt2Vocabulary}.
 */
package adept.io.tokenizer;
