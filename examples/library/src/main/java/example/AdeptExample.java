package example;

import adept.AdeptException;
import adept.expand.ExpansionMetadata;
import adept.expand.ExpansionPlan;
import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.LoadedModel;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.io.tokenizer.Tokenizer;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.probe.LayerImportance;
import adept.probe.LayerProbe;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tensor.TorchException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * adept used as a library: zero-copy tensors, autograd, errors, a long scoped loop with flat memory, and
 * ADEPT stage 1 (load, probe, expand, save) on a tiny Hugging Face model this program writes itself.
 * Run with {@code java --enable-native-access=ALL-UNNAMED -jar adept-library-example.jar [WORK_DIR]}.
 * Exits 1 with a message when a check fails.
 */
public final class AdeptExample {
    private static final List<String> WORDS = List.of("the", "cat", "dog", "sat", "on", "mat", "ran", "to", "park", "and", "a", "big",
            "small", "red", "house", "tree", "sun", "moon", ".");

    public static void main(String[] args) throws IOException {
        Path work = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("adept-example");
        System.out.println("adept shim " + Torch.nativeLibrary() + ", libtorch " + Torch.runtimeVersion());
        zeroCopy();
        autograd();
        errors();
        flatMemory();
        stageOne(work);
        System.out.println("example: all checks passed");
    }

    /**
     * A tensor over off-heap memory: writes on either side are seen on the other. The memory comes from an
     * automatic arena (it lives while reachable, and the tensor keeps it reachable); a confined arena is
     * refused, since closing it under a live tensor would crash libtorch.
     */
    static void zeroCopy() {
        try (Scope scope = Scope.open()) {
            MemorySegment memory = Arena.ofAuto().allocate(ValueLayout.JAVA_FLOAT, 6);
            for (int i = 0; i < 6; i++) memory.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
            Tensor t = Tensor.fromSegment(memory, DType.FLOAT32, 2, 3);
            t.mulInPlace(10);  // libtorch writes into the segment
            check(memory.getAtIndex(ValueLayout.JAVA_FLOAT, 5) == 50f, "zero-copy: libtorch's write is visible in the segment");
            memory.setAtIndex(ValueLayout.JAVA_FLOAT, 0, -1f);
            check(t.getDouble(0, 0) == -1.0, "zero-copy: the segment's write is visible in the tensor");
            System.out.println("zero-copy: " + Arrays.toString(t.toFloatArray()));
        }
        try (Arena arena = Arena.ofConfined(); Scope scope = Scope.open()) {
            MemorySegment memory = arena.allocate(ValueLayout.JAVA_FLOAT, 6);
            try {
                Tensor.fromSegment(memory, DType.FLOAT32, 6);
                check(false, "zero-copy: a confined arena's segment was accepted");
            } catch (AdeptException refused) {
                Tensor copy = Tensor.copyOf(memory, DType.FLOAT32, 6);  // its own bytes: the arena may close
                check(copy.numel() == 6, "copyOf: a copy of the segment");
            }
        }
    }

    /** d/dw of sum((w x)^2) by libtorch's autograd, against the formula 2 (w x) x^T. */
    static void autograd() {
        try (Scope scope = Scope.open()) {
            Tensor w = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).requiresGrad(true);
            Tensor x = Tensor.of(new float[] {1, -1}, 2, 1);
            Tensor loss = w.matmul(x).square().sum();
            loss.backward();
            float[] grad = w.grad().toFloatArray();
            // w x = [-1, -1]; 2 (w x) x^T = [[-2, 2], [-2, 2]]
            check(Arrays.equals(grad, new float[] {-2, 2, -2, 2}), "autograd: gradient " + Arrays.toString(grad));
            System.out.println("autograd: loss " + loss.item() + ", dloss/dw " + Arrays.toString(grad));
        }
    }

    /** libtorch's C++ errors arrive as TorchException, with its message; the process goes on. */
    static void errors() {
        try (Scope scope = Scope.open()) {
            Tensor.zeros(2, 3).matmul(Tensor.zeros(4, 5));
            check(false, "errors: a shape mismatch should have thrown");
        } catch (TorchException e) {
            System.out.println("errors: caught TorchException: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** 10,000 small training steps, each in a scope that frees its tensors: live handles and resident memory stay flat. */
    static void flatMemory() throws IOException {
        long liveAtStart = Torch.liveTensors();
        Tensor weight;
        try (Scope init = Scope.open()) {
            weight = Tensor.randn(DType.FLOAT32, Device.CPU, 128, 128).mul(0.05).keep();
        }
        weight.requiresGrad(true);
        long rssAfterWarmUp = 0;
        long started = System.nanoTime();
        for (int i = 0; i < 10_000; i++) {
            if (i == 1_000) rssAfterWarmUp = residentKiB();  // after allocator caches and the JIT warmed up
            try (Scope step = Scope.open()) {
                Tensor x = Tensor.randn(DType.FLOAT32, Device.CPU, 32, 128);
                Tensor loss = x.matmul(weight).silu().square().mean();
                loss.backward();
                try (var noGrad = Torch.noGrad()) {
                    weight.addInPlace(weight.grad(), -1e-3);
                }
                weight.setGrad(null);
            }
        }
        long rssAtEnd = residentKiB();
        long peakKiB = statusKiB("VmHWM:");
        weight.close();
        long growthKiB = rssAtEnd - rssAfterWarmUp;
        System.out.printf("scoped loop: 10,000 steps in %.1f s, RSS %d MiB after 1,000 steps, %d MiB after 10,000 (%+d KiB), peak %d MiB%n",
                (System.nanoTime() - started) / 1e9, rssAfterWarmUp / 1024, rssAtEnd / 1024, growthKiB, peakKiB / 1024);
        check(Torch.liveTensors() == liveAtStart, "scoped loop: " + (Torch.liveTensors() - liveAtStart) + " tensors left alive");
        check(growthKiB < 32 * 1024, "scoped loop: resident memory grew by " + growthKiB + " KiB over 9,000 steps");
    }

    /** Writes a tiny Llama model with a word-level tokenizer, then loads it, probes its layers, expands it and saves it. */
    static void stageOne(Path work) throws IOException {
        Path base = work.resolve("tiny-llama");
        Path expanded = work.resolve("tiny-llama-expanded");
        int vocab = 4 + WORDS.size();
        ModelConfig config = ModelConfig.builder(Architecture.LLAMA).vocabSize(vocab).hiddenSize(32).intermediateSize(64)
                .numHiddenLayers(4).numAttentionHeads(4).numKeyValueHeads(2).headDim(8).maxPositionEmbeddings(64).build();
        try (CausalLM random = CausalLM.random(config, 42, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(random, base);
        }
        writeTokenizer(base);

        try (Tokenizer tokenizer = Tokenizer.load(base); LoadedModel loaded = Checkpoint.loadWithProvenance(base, DType.FLOAT32, Device.CPU);
             Scope scope = Scope.open()) {
            CausalLM model = loaded.model();
            List<Example> examples = new ArrayList<>();
            String[] texts = {"the cat sat on the mat .", "a big dog ran to the park .", "the sun and the moon .", "a small red house ."};
            for (int i = 0; i < texts.length; i++) {
                long[] ids = tokenizer.encode(texts[i]);
                boolean[] targets = new boolean[ids.length];
                Arrays.fill(targets, 1, ids.length, true);  // every token after BOS is predicted
                examples.add(new Example(ids, targets, i + 1));
            }
            List<Batch> batches = List.of(Batch.of(examples.subList(0, 2), tokenizer.padId().orElse(0), Device.CPU),
                    Batch.of(examples.subList(2, 4), tokenizer.padId().orElse(0), Device.CPU));
            LayerImportance importance = new LayerProbe(model).probe(batches, null);
            System.out.println("probe: base loss " + importance.baseLoss() + ", dL per layer " + Arrays.toString(importance.deltas()));

            float[] before = model.forward(batches.get(0).inputIds(), batches.get(0).attentionMask()).toFloatArray();
            ExpansionPlan plan = LayerExpansion.lowest(importance, 1);
            LayerExpansion.Expanded expansion = LayerExpansion.apply(loaded, plan, importance);
            float[] after = model.forward(batches.get(0).inputIds(), batches.get(0).attentionMask()).toFloatArray();
            check(Arrays.equals(before, after), "expand: an identity copy must leave the logits unchanged");
            Checkpoint.save(expansion.model(), expanded);  // keeps the tokenizer, config.json's bos/eos and the expansion record
            System.out.println("expand: copied layer " + plan.sources() + " (" + expansion.trainable().size() + " trainable tensors) -> " + expanded);
        }

        Checkpoint saved = Checkpoint.open(expanded);
        ExpansionMetadata record = ExpansionMetadata.from(saved.metadata(), expanded.toString()).orElseThrow();
        check(saved.config().modelConfig().numHiddenLayers() == 5, "save: 5 layers after copying one of 4");
        check(Files.exists(expanded.resolve("tokenizer.json")) && Files.exists(expanded.resolve(ExpansionMetadata.FILE_NAME)),
                "save: the tokenizer and the expansion sidecar are kept");
        check(saved.config().bosTokenId().orElse(-1) == 2, "save: config.json keeps bos_token_id");
        System.out.println("saved: " + saved + ", copies at " + record.copyIndices());
    }

    /** A word-level tokenizer.json over WORDS with <pad>, <unk>, <bos>, <eos> as ids 0-3, and config.json's bos/eos ids. */
    static void writeTokenizer(Path dir) throws IOException {
        StringBuilder vocab = new StringBuilder("\"<pad>\": 0, \"<unk>\": 1, \"<bos>\": 2, \"<eos>\": 3");
        for (int i = 0; i < WORDS.size(); i++) vocab.append(", \"").append(WORDS.get(i)).append("\": ").append(4 + i);
        StringBuilder added = new StringBuilder();
        String[] specials = {"<pad>", "<unk>", "<bos>", "<eos>"};
        for (int i = 0; i < specials.length; i++) {
            if (i > 0) added.append(", ");
            added.append("{\"id\": ").append(i).append(", \"content\": \"").append(specials[i])
                    .append("\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}");
        }
        Files.writeString(dir.resolve("tokenizer.json"), """
                {"version": "1.0", "truncation": null, "padding": null, "added_tokens": [%s], "normalizer": null,
                 "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {%s}, "unk_token": "<unk>"}}
                """.formatted(added, vocab));
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "add_bos_token": true, "add_eos_token": false}
                """);
        String configJson = Files.readString(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), configJson.replaceFirst("\\{", "{\n  \"bos_token_id\": 2,\n  \"eos_token_id\": 3,"));
    }

    private static long residentKiB() throws IOException {
        return statusKiB("VmRSS:");
    }

    /** A size field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident), in KiB. */
    private static long statusKiB(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field)) return Long.parseLong(line.replaceAll("\\D", ""));
        }
        throw new IllegalStateException("no " + field + " in /proc/self/status");
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("example: FAILED: " + what);
            System.exit(1);
        }
    }
}
