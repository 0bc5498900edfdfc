package adept.io.checkpoint;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What {@link Checkpoint#save(LoadedModel, Path)} keeps of a model besides its weights, as the command line
 * does: the config.json it was loaded with (bos/eos ids, generation fields, unknown fields), the safetensors
 * metadata (adept's expansion record), the tokenizer and other companion files of its folder, and files adept
 * generated for it (the expansion sidecar). It travels with the model in a {@link LoadedModel}:
 * {@link Checkpoint#loadWithProvenance} makes one from the folder ({@link Checkpoint#provenance()}),
 * {@code adept.expand.LayerExpansion.apply} returns it updated.
 *
 * @param folder the checkpoint folder the model was loaded from, whose companion files are copied; null for none
 * @param config the config.json to write (updated from the model's shape when saving)
 * @param metadata safetensors "__metadata__" entries to write ("format" is always written)
 * @param sidecars files to write into the saved folder, by name, with their text; they win over the folder's files
 */
public record Provenance(Path folder, ConfigJson config, Map<String, String> metadata, Map<String, String> sidecars) {
    /** Copies the maps; config is required. */
    public Provenance {
        Objects.requireNonNull(config, "config");
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata == null ? Map.of() : metadata));
        sidecars = Collections.unmodifiableMap(new LinkedHashMap<>(sidecars == null ? Map.of() : sidecars));
    }

    /** This provenance naming another folder (the same one by its real path, say). */
    public Provenance withFolder(Path folder) {
        return new Provenance(folder, config, metadata, sidecars);
    }

    /** This provenance with config replaced (e.g. after the layer count changed). */
    public Provenance withConfig(ConfigJson config) {
        return new Provenance(folder, config, metadata, sidecars);
    }

    /** This provenance with one metadata entry set. */
    public Provenance withMetadata(String key, String value) {
        Map<String, String> m = new LinkedHashMap<>(metadata);
        m.put(key, value);
        return new Provenance(folder, config, m, sidecars);
    }

    /** This provenance with a file of the given text to write into every saved folder. */
    public Provenance withSidecar(String fileName, String text) {
        Map<String, String> s = new LinkedHashMap<>(sidecars);
        s.put(fileName, text);
        return new Provenance(folder, config, metadata, s);
    }
}
