package adept.io.checkpoint;

import adept.nn.CausalLM;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A model with what it came from: {@link Checkpoint#save(LoadedModel, Path)} writes the model keeping its
 * {@link Provenance} (config.json fields, metadata, tokenizer and companion files, adept's sidecars). Made by
 * {@link Checkpoint#loadWithProvenance}; an expansion ({@code adept.expand.LayerExpansion.apply}) returns one with the
 * provenance updated. Closing it closes the model.
 */
public record LoadedModel(CausalLM model, Provenance provenance) implements AutoCloseable {
    public LoadedModel {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(provenance, "provenance");
    }

    /** The same model with another provenance. */
    public LoadedModel withProvenance(Provenance provenance) {
        return new LoadedModel(model, provenance);
    }

    @Override
    public void close() {
        model.close();
    }
}
