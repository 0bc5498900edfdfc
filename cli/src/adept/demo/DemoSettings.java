package adept.demo;

import adept.nn.Architecture;
import adept.nn.ModelConfig;
import java.util.Locale;

/**
 * Sizes of a demo run: the model, the tokenizer, the text budget and the steps of each stage. {@link #full()} is
 * sized for about 30 minutes on 2 CPU cores (pretraining about 15 of them), {@link #quick()} for a few minutes.
 * Every adaptation mode gets the same token budget (steps x batch x block).
 */
public final class DemoSettings {
    public String name;
    // text
    public long generalChars;
    public long domainChars;
    /** Held-out documents (at most) of each kind; the probe corpus takes probeItems general paragraphs. */
    public int heldoutDocs;
    public int probeItems;
    // tokenizer and model
    public int vocabSize;
    public int hidden;
    public int layers;
    public int heads;
    public int kvHeads;
    public int intermediate;
    public int blockSize;
    public int batchSize;
    // pretraining
    public long pretrainSteps;
    public double pretrainLr;
    // adaptation
    public long adaptSteps;
    public double adaptLr;
    /** Layers each expanding mode adds (llama-pro and adept). */
    public int k;
    public int refreshEvery;
    /** Held-out tokens for the curves during training (the final evaluation uses every held-out document). */
    public long curveTokens;
    public int generateTokens;
    public long seed = 1234;

    /** The full-size demo (the README's ./adept demo). */
    public static DemoSettings full() {
        DemoSettings s = new DemoSettings();
        s.name = "full";
        s.generalChars = 7_500_000;
        s.domainChars = 3_000_000;
        s.heldoutDocs = 120;
        s.probeItems = 64;
        s.vocabSize = 8192;
        s.hidden = 256;
        s.layers = 6;
        s.heads = 8;
        s.kvHeads = 4;
        s.intermediate = 688;
        s.blockSize = 256;
        s.batchSize = 8;
        s.pretrainSteps = 1200;
        s.pretrainLr = 1e-3;
        s.adaptSteps = 240;
        s.adaptLr = 3e-4;
        s.k = 2;
        s.refreshEvery = 60;
        s.curveTokens = 16_384;
        s.generateTokens = 60;
        return s;
    }

    /** The small demo of ./adept demo --quick. */
    public static DemoSettings quick() {
        DemoSettings s = new DemoSettings();
        s.name = "quick";
        s.generalChars = 600_000;
        s.domainChars = 300_000;
        s.heldoutDocs = 24;
        s.probeItems = 16;
        s.vocabSize = 2048;
        s.hidden = 64;
        s.layers = 4;
        s.heads = 4;
        s.kvHeads = 2;
        s.intermediate = 172;
        s.blockSize = 128;
        s.batchSize = 8;
        s.pretrainSteps = 150;
        s.pretrainLr = 2e-3;
        s.adaptSteps = 40;
        s.adaptLr = 1e-3;
        s.k = 2;
        s.refreshEvery = 10;
        s.curveTokens = 4096;
        s.generateTokens = 30;
        return s;
    }

    /** The base model's shape: Llama (RMSNorm, RoPE, grouped-query attention, SwiGLU), tied embeddings. */
    public ModelConfig modelConfig(int vocab) {
        return ModelConfig.builder(Architecture.LLAMA).vocabSize(vocab).hiddenSize(hidden).intermediateSize(intermediate)
                .numHiddenLayers(layers).numAttentionHeads(heads).numKeyValueHeads(kvHeads).rmsNormEps(1e-5)
                .maxPositionEmbeddings(blockSize).tieWordEmbeddings(true).build();
    }

    /** Tokens each adaptation mode trains on. */
    public long adaptTokens() {
        return adaptSteps * batchSize * blockSize;
    }

    /** The sizes in one line, for the terminal and the report. */
    public String describe() {
        return String.format(Locale.ROOT, "%s: Llama %d layers, hidden %d, %d/%d heads, MLP %d, vocab %d, block %d x batch %d;"
                        + " pretraining %d steps, adaptation %d steps (%,d tokens) per mode", name, layers, hidden, heads, kvHeads, intermediate,
                vocabSize, blockSize, batchSize, pretrainSteps, adaptSteps, adaptTokens());
    }
}
