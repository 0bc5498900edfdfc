package adept.io.checkpoint;

import adept.tensor.DType;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How {@link Checkpoint#save} writes a model.
 *
 * @param dtype the dtype to store tensors in; null keeps the model's
 * @param maxShardBytes the largest shard in bytes (a tensor larger than this gets a shard of its own);
 *     0 writes a single model.safetensors
 * @param metadata extra strings stored in every safetensors file's "__metadata__" (next to "format": "pt")
 * @param config the config.json to write, updated from the model's {@link adept.nn.ModelConfig}; null derives
 *     a fresh one from the model. Pass the loaded checkpoint's {@link Checkpoint#config()} to keep its other fields.
 * @param extraFiles files copied into the checkpoint folder, by their name there (tokenizer.json,
 *     generation_config.json, ...): the folder is replaced as a whole, so anything to keep must be listed
 * @param checksums also write {@link Checksums#FILE_NAME}, the size and CRC32C of every file, for {@link Checksums#verify}
 */
public record SaveOptions(DType dtype, long maxShardBytes, Map<String, String> metadata, ConfigJson config, Map<String, Path> extraFiles,
                          boolean checksums) {
    public SaveOptions {
        if (maxShardBytes < 0) throw new CheckpointException("maxShardBytes must be >= 0 (0 = one file), got " + maxShardBytes);
        metadata = metadata == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        extraFiles = extraFiles == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(extraFiles));
        for (var e : metadata.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) throw new CheckpointException("metadata keys and values must not be null: " + e);
        }
        for (var e : extraFiles.entrySet()) {
            checkFileName(e.getKey());
            if (e.getValue() == null) throw new CheckpointException("extra file " + e.getKey() + " has no source path");
        }
    }

    /** A file saved beside the weights must have a plain name that is not one of the files the checkpoint writes itself. */
    static void checkFileName(String name) {
        if (name == null || name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".") || name.equals("..")) {
            throw new CheckpointException("extra file name \"" + name + "\" must be a plain file name");
        }
        // the weights' own names only: other safetensors files (a LoRA adapter_model.safetensors) may ride along
        if (name.equals(ConfigJson.FILE_NAME) || name.equals(Checkpoint.WEIGHTS_FILE) || name.matches("model-\\d+-of-\\d+\\.safetensors")
                || name.equals(Checkpoint.INDEX_FILE) || name.equals(Checksums.FILE_NAME)) {
            throw new CheckpointException("extra file " + name + " would overwrite a file the checkpoint writes");
        }
    }

    /** Model's dtype, one file, no extra metadata, a config.json derived from the model. */
    public static SaveOptions defaults() {
        return new SaveOptions(null, 0, Map.of(), null, Map.of(), false);
    }

    /** These options storing tensors as dtype (null: the model's). */
    public SaveOptions withDtype(DType dtype) {
        return new SaveOptions(dtype, maxShardBytes, metadata, config, extraFiles, checksums);
    }

    /** These options with another shard size (0: one file). */
    public SaveOptions withMaxShardBytes(long maxShardBytes) {
        return new SaveOptions(dtype, maxShardBytes, metadata, config, extraFiles, checksums);
    }

    /** These options with these metadata entries instead. */
    public SaveOptions withMetadata(Map<String, String> metadata) {
        return new SaveOptions(dtype, maxShardBytes, metadata, config, extraFiles, checksums);
    }

    /** These options writing config (updated from the model) as config.json. */
    public SaveOptions withConfig(ConfigJson config) {
        return new SaveOptions(dtype, maxShardBytes, metadata, config, extraFiles, checksums);
    }

    /** These options also copying source into the folder as name. */
    public SaveOptions withExtraFile(String name, Path source) {
        Map<String, Path> files = new LinkedHashMap<>(extraFiles);
        files.put(name, source);
        return new SaveOptions(dtype, maxShardBytes, metadata, config, files, checksums);
    }

    /** These options also writing the checksums of every file (a training checkpoint, verified before resuming). */
    public SaveOptions withChecksums() {
        return new SaveOptions(dtype, maxShardBytes, metadata, config, extraFiles, true);
    }
}
