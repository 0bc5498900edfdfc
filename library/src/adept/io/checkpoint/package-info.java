/**
 * Hugging Face checkpoints: {@link adept.io.checkpoint.Safetensors} files (memory-mapped, handed to libtorch
 * without copying), {@link adept.io.checkpoint.ConfigJson} (config.json, preserving fields adept does not
 * know), and {@link adept.io.checkpoint.Checkpoint}, the folder layout (single file or sharded with an
 * index) read into and written from an {@link adept.nn.CausalLM}. Writes are atomic: files go to a temporary
 * sibling first and are renamed into place after an fsync.
 */
package adept.io.checkpoint;
