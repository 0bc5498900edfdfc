package adept.train;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.LoadedModel;
import adept.io.checkpoint.SaveOptions;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a trained model as a Hugging Face folder through {@link Checkpoint#save(LoadedModel, Path, SaveOptions)}: the
 * weights with the model's provenance (config, the base model's tokenizer files, the expansion record), plus a
 * checkpoint's files.
 */
final class ModelFolder {
    private ModelFolder() {}

    /** The model of prepared (trained from the model in baseDir) into target, plus extra files (a checkpoint's). */
    static void write(PreparedModel prepared, Path target, Path baseDir, Map<String, Path> extra) {
        SaveOptions options = SaveOptions.defaults();
        for (var e : extra.entrySet()) options = options.withExtraFile(e.getKey(), e.getValue());
        if (!extra.isEmpty()) options = options.withChecksums();  // a checkpoint: verified before it is resumed
        // lora: the merged weights (a plain model for every command) plus the adapters' PEFT files
        try (LoraMode.Staged lora = LoraMode.stage(prepared.model(), target.getParent(), baseDir)) {
            if (lora == null) {
                Checkpoint.save(prepared.loaded(), target, options);
                return;
            }
            for (var e : lora.files().entrySet()) options = options.withExtraFile(e.getKey(), e.getValue());
            Checkpoint.save(new LoadedModel(lora.merged(), prepared.loaded().provenance()), target, options);  // closed by lora
        }
    }
}
