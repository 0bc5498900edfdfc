package adept.train;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.FileOps;
import adept.io.checkpoint.SaveOptions;
import adept.nn.CausalLM;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Writes a trained model as a Hugging Face folder: weights, config, the base model's tokenizer files, expansion metadata. */
final class ModelFolder {
    private ModelFolder() {}

    /** The model of prepared (trained from the model in baseDir) into target, plus extra files (a checkpoint's). */
    static void write(CausalLM model, Path target, Path baseDir, PreparedModel prepared, Map<String, Path> extra) {
        SaveOptions options = SaveOptions.defaults().withConfig(prepared.config());
        Path sidecar = null;
        try {
            if (prepared.expansion() != null) {
                sidecar = FileOps.newTemporarySibling(target.getParent(), ExpansionMetadata.FILE_NAME);  // not createTempFile's 0600: copied with its mode
                Files.writeString(sidecar, prepared.expansion().toPrettyJson(), StandardCharsets.UTF_8);
                options = options.withMetadata(Map.of(ExpansionMetadata.METADATA_KEY, prepared.expansion().toJson()))
                        .withExtraFile(ExpansionMetadata.FILE_NAME, sidecar);
            }
            for (String name : Checkpoint.COMPANION_FILES) {
                Path f = baseDir.resolve(name);
                if (Files.isRegularFile(f)) options = options.withExtraFile(name, f);
            }
            for (var e : extra.entrySet()) options = options.withExtraFile(e.getKey(), e.getValue());
            if (!extra.isEmpty()) options = options.withChecksums();  // a checkpoint: verified before it is resumed
            // lora: the merged weights (a plain model for every command) plus the adapters' PEFT files
            try (LoraMode.Staged lora = LoraMode.stage(model, target.getParent(), baseDir)) {
                if (lora != null) for (var e : lora.files().entrySet()) options = options.withExtraFile(e.getKey(), e.getValue());
                Checkpoint.save(lora != null ? lora.merged() : model, target, options);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            if (sidecar != null) RunFolder.deleteQuietly(sidecar);
        }
    }
}
