package adept.bench;

import adept.nn.Architecture;
import adept.nn.ModelConfig;
import picocli.CommandLine.Option;

/** The benchmarked model's shape and batch, shared by bench train, adept and lora (picocli mixin): one default each. */
public final class ModelShape {
    @Option(names = "--batch", defaultValue = "8", description = "sequences per batch (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seq", defaultValue = "256", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
    int seq;

    @Option(names = "--vocab", defaultValue = "8192", description = "vocabulary size (default: ${DEFAULT-VALUE})")
    int vocab;

    @Option(names = "--hidden", defaultValue = "256", description = "hidden size (default: ${DEFAULT-VALUE})")
    int hidden;

    @Option(names = "--layers", defaultValue = "6", description = "decoder layers (before any expansion) (default: ${DEFAULT-VALUE})")
    int layers;

    @Option(names = "--heads", defaultValue = "8", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads;

    @Option(names = "--kv-heads", defaultValue = "4", description = "key/value heads (default: ${DEFAULT-VALUE})")
    int kvHeads;

    @Option(names = "--intermediate", defaultValue = "688", description = "MLP intermediate size (default: ${DEFAULT-VALUE})")
    int intermediate;

    /** The Llama of this shape (the family's defaults otherwise; its context holds the sequence). */
    ModelConfig llama() {
        return llama(vocab, hidden, intermediate, layers, heads, kvHeads, seq);
    }

    /** A Llama of the given shape (the family's defaults otherwise; its context holds seq tokens). */
    static ModelConfig llama(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int seq) {
        return ModelConfig.builder(Architecture.LLAMA).vocabSize(vocab).hiddenSize(hidden).intermediateSize(intermediate)
                .numHiddenLayers(layers).numAttentionHeads(heads).numKeyValueHeads(kvHeads)
                .maxPositionEmbeddings(Math.max(seq, 64)).build();
    }
}
