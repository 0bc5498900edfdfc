package adept.io.checkpoint;

import static adept.io.checkpoint.SafetensorsTest.assertMentions;
import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.nn.RopeScaling;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CheckpointTest {
    @TempDir
    Path tmp;

    static ModelConfig tiny(Architecture arch, boolean tied) {
        RopeScaling scaling = arch == Architecture.LLAMA ? new RopeScaling("llama3", 8, 1, 4, 16) : null;
        return ModelConfig.builder(arch).vocabSize(64).hiddenSize(32).intermediateSize(48).numHiddenLayers(3).numAttentionHeads(4)
                .numKeyValueHeads(2).headDim(8).ropeTheta(10000).ropeScaling(scaling).maxPositionEmbeddings(64)
                .tieWordEmbeddings(tied).attentionBias(arch == Architecture.LLAMA).build();
    }

    static float[] logits(CausalLM model) {
        try (Scope scope = Scope.open(); Torch.GradMode g = Torch.noGrad()) {
            long[] raw = {1, 5, 9, 2, 63, 0, 7, 7, 30, 12};
            for (int i = 0; i < raw.length; i++) raw[i] %= model.config().vocabSize();
            Tensor ids = Tensor.of(raw, 2, 5);
            return model.forward(ids, null).toFloatArray();
        }
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"LLAMA", "QWEN2", "QWEN3"})
    void saveThenLoadGivesIdenticalLogits(String arch) throws IOException {
        Path dir = tmp.resolve("ckpt");
        try (CausalLM model = CausalLM.random(tiny(Architecture.valueOf(arch), false), 7, 0.1, DType.FLOAT32, Device.CPU)) {
            float[] expected = logits(model);
            Checkpoint.save(model, dir, SaveOptions.defaults().withMetadata(Map.of("adept.expansion", "{\"layers\": [1]}")));
            assertEquals(List.of("config.json", "model.safetensors"), listing(dir));
            Checkpoint ck = Checkpoint.open(dir);
            assertEquals("pt", ck.metadata().get("format"));
            assertEquals("{\"layers\": [1]}", ck.metadata().get("adept.expansion"));
            assertEquals(model.config(), ck.config().modelConfig());
            assertEquals(DType.FLOAT32, ck.config().dtype());
            try (CausalLM loaded = ck.loadModel(DType.FLOAT32, Device.CPU)) {
                assertArrayEquals(expected, logits(loaded));
                assertEquals(new ArrayList<>(model.namedParameters().keySet()), new ArrayList<>(loaded.namedParameters().keySet()));
            }
            assertEquals(tmp.resolve("ckpt"), dir);
            assertEquals(List.of("ckpt"), listing(tmp), "no temporary folder left");
        }
    }

    @Test
    void loadedModelOwnsItsParametersWhateverHappensToTheFiles() throws IOException {
        Path dir = tmp.resolve("ckpt");
        float[] expected;
        try (CausalLM model = CausalLM.random(tiny(Architecture.QWEN3, false), 1, 0.1, DType.FLOAT32, Device.CPU)) {
            expected = logits(model);
            Checkpoint.save(model, dir);
        }
        Checkpoint ck = Checkpoint.open(dir);
        try (CausalLM loaded = ck.loadModel(DType.FLOAT32, Device.CPU)) {
            // truncate -s 0 M/model.safetensors during an eval: SIGBUS while parameters were over a mapping.
            Files.write(dir.resolve(Checkpoint.WEIGHTS_FILE), new byte[0]);
            assertArrayEquals(expected, logits(loaded));
            // Training updates parameters in place: the process's own memory.
            loaded.namedParameters().get("model.norm.weight").fill(3.0);
            assertEquals(0, Files.size(dir.resolve(Checkpoint.WEIGHTS_FILE)));
        }
    }

    @Test
    void truncationBetweenOpenAndLoadIsOneLineError() throws IOException {
        Path dir = tmp.resolve("ckpt");
        try (CausalLM model = CausalLM.random(tiny(Architecture.LLAMA, false), 1, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, dir);
        }
        Checkpoint ck = Checkpoint.open(dir);
        Path weights = dir.resolve(Checkpoint.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        CheckpointException e = assertThrows(CheckpointException.class, () -> ck.loadModel(DType.FLOAT32, Device.CPU));
        assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("changed while it was being read"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void shardedAndSingleFileAreIdentical() throws IOException {
        Path single = tmp.resolve("single");
        Path sharded = tmp.resolve("sharded");
        try (CausalLM model = CausalLM.random(tiny(Architecture.QWEN2, false), 3, 0.1, DType.FLOAT32, Device.CPU)) {
            float[] expected = logits(model);
            Checkpoint.save(model, single);
            Checkpoint.save(model, sharded, SaveOptions.defaults().withMaxShardBytes(10_000).withMetadata(Map.of("k", "v")));
            List<String> files = listing(sharded);
            assertTrue(files.contains(Checkpoint.INDEX_FILE), files.toString());
            assertFalse(files.contains(Checkpoint.WEIGHTS_FILE));
            long shards = files.stream().filter(f -> f.matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
            assertTrue(shards >= 3, "several shards: " + files);
            JsonObject index = JsonParser.parseString(Files.readString(sharded.resolve(Checkpoint.INDEX_FILE))).getAsJsonObject();
            long total = 0;
            for (var p : model.namedParameters().values()) total += p.numel() * 4;
            assertEquals(total, index.getAsJsonObject("metadata").get("total_size").getAsLong());
            assertEquals(model.namedParameters().size(), index.getAsJsonObject("weight_map").size());
            for (String f : files) {
                if (f.endsWith(".safetensors")) {
                    assertTrue(Files.size(sharded.resolve(f)) < 10_000 + 4096 || Safetensors.open(sharded.resolve(f)).names().size() == 1, f);
                    assertEquals("v", Safetensors.open(sharded.resolve(f)).metadata().get("k"), "metadata in every shard");
                }
            }
            Checkpoint ck = Checkpoint.open(sharded);
            assertEquals(shards, ck.files().size());
            try (CausalLM a = Checkpoint.load(single, DType.FLOAT32, Device.CPU); CausalLM b = ck.loadModel(DType.FLOAT32, Device.CPU)) {
                assertArrayEquals(expected, logits(a));
                assertArrayEquals(expected, logits(b));
            }
        }
    }

    @Test
    void bf16SaveAndLoad() throws IOException {
        Path dir = tmp.resolve("bf16");
        try (CausalLM model = CausalLM.random(tiny(Architecture.LLAMA, true), 5, 0.1, DType.BFLOAT16, Device.CPU)) {
            float[] expected = logits(model);
            Checkpoint.save(model, dir);
            Checkpoint ck = Checkpoint.open(dir);
            assertEquals(DType.BFLOAT16, ck.config().dtype());
            assertFalse(ck.tensorNames().contains("lm_head.weight"), "tied embeddings write no lm_head");
            assertEquals(DType.BFLOAT16, Safetensors.open(dir.resolve("model.safetensors")).entry("model.norm.weight").dtype());
            try (CausalLM same = ck.loadModel(null, Device.CPU)) {
                assertEquals(DType.BFLOAT16, same.dtype(), "null dtype: as stored");
                assertArrayEquals(expected, logits(same));
            }
            try (CausalLM wide = ck.loadModel(DType.FLOAT32, Device.CPU); CausalLM reference = model) {
                assertEquals(DType.FLOAT32, wide.dtype());
                for (var p : reference.namedParameters().entrySet()) {
                    assertArrayEquals(p.getValue().toFloatArray(), wide.namedParameters().get(p.getKey()).toFloatArray(), p.getKey());
                }
            }
        }
        // An F32 model stored as BF16 loads back as the rounded values.
        Path narrowed = tmp.resolve("narrowed");
        try (CausalLM model = CausalLM.random(tiny(Architecture.QWEN3, false), 5, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, narrowed, SaveOptions.defaults().withDtype(DType.BFLOAT16));
            try (CausalLM loaded = Checkpoint.load(narrowed, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
                Tensor original = model.namedParameters().get("model.layers.1.mlp.up_proj.weight");
                assertArrayEquals(original.to(DType.BFLOAT16).toFloatArray(),
                        loaded.namedParameters().get("model.layers.1.mlp.up_proj.weight").toFloatArray());
            }
        }
    }

    @Test
    void saveKeepsTheLoadedConfigAndReplacesAnExistingFolder() throws IOException {
        Path dir = tmp.resolve("ckpt");
        try (CausalLM model = CausalLM.random(tiny(Architecture.LLAMA, false), 2, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, dir);
        }
        JsonObject json = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        json.addProperty("custom_field", "kept");
        Files.writeString(dir.resolve("config.json"), json.toString());
        Files.writeString(dir.resolve("stale.txt"), "old");
        Path tokenizer = Files.writeString(tmp.resolve("tokenizer.json"), "{}");

        Checkpoint ck = Checkpoint.open(dir);
        try (CausalLM loaded = ck.loadModel(DType.FLOAT32, Device.CPU)) {
            float[] expected = logits(loaded);
            // Overwrite the folder the model was loaded from (its files are still mapped).
            Checkpoint.save(loaded, dir, SaveOptions.defaults().withConfig(ck.config()).withExtraFile("tokenizer.json", tokenizer));
            assertArrayEquals(expected, logits(loaded), "the loaded model still reads its (now replaced) files");
        }
        assertEquals(List.of("config.json", "model.safetensors", "tokenizer.json"), listing(dir));
        assertEquals(List.of("ckpt", "tokenizer.json"), listing(tmp), "no temp or old folder left");
        assertEquals("kept", Checkpoint.open(dir).config().json().get("custom_field").getAsString());
    }

    @Test
    void failedSaveLeavesNoPartialFolder() throws IOException {
        Path dir = tmp.resolve("out");
        try (CausalLM model = CausalLM.random(tiny(Architecture.QWEN3, false), 2, 0.1, DType.FLOAT32, Device.CPU)) {
            Tensor victim = model.layers().get(2).parameters().get("mlp.up_proj.weight");
            victim.shape();  // cached: sharding still works, writing the file fails midway
            victim.close();
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.save(model, dir));
            assertMentions(e, "model.safetensors", "model.layers.2.mlp.up_proj.weight");
            assertEquals(List.of(), listing(tmp), "no output folder and no temporary sibling");

            // An existing checkpoint survives a failed overwrite.
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), "{}");
            assertThrows(CheckpointException.class, () -> Checkpoint.save(model, dir, SaveOptions.defaults().withMaxShardBytes(4096)));
            assertEquals(List.of("config.json"), listing(dir));
            assertEquals(List.of("out"), listing(tmp));
            assertThrows(CheckpointException.class, () -> Checkpoint.save(model, dir, SaveOptions.defaults().withDtype(DType.INT64)));
            assertThrows(CheckpointException.class,
                    () -> Checkpoint.save(model, dir, SaveOptions.defaults().withExtraFile("tokenizer.json", tmp.resolve("absent"))));
            assertEquals(List.of("out"), listing(tmp));
        }
    }

    /** A small valid checkpoint whose config.json or tensors a test then breaks. */
    Path valid(String name) {
        Path dir = tmp.resolve(name);
        try (CausalLM model = CausalLM.random(tiny(Architecture.LLAMA, false), 4, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, dir);
        }
        return dir;
    }

    static void rewriteTensors(Path file, java.util.function.Consumer<Map<String, Tensor>> edit) {
        try (Scope scope = Scope.open()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Safetensors st = Safetensors.open(file);
            for (String n : st.names()) tensors.put(n, st.tensor(n).clone());
            edit.accept(tensors);
            Safetensors.write(file, tensors, st.metadata());
        }
    }

    static CheckpointException loadFails(Path dir) {
        return assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, DType.FLOAT32, Device.CPU));
    }

    @Test
    void shapeDisagreeingWithConfigNamesFileAndTensor() throws IOException {
        Path dir = valid("shape");
        rewriteTensors(dir.resolve("model.safetensors"), t -> t.put("model.layers.1.mlp.up_proj.weight", Tensor.zeros(40, 32)));
        assertMentions(loadFails(dir), "shape/model.safetensors", "tensor model.layers.1.mlp.up_proj.weight", "[40, 32]", "[48, 32]",
                "config.json");
        long before = adept.testing.LiveTensors.settled();
        loadFails(dir);
        assertEquals(before, Torch.liveTensors(), "nothing leaks on a failed load");
    }

    @Test
    void missingAndUnexpectedTensorsAreNamed() {
        Path dir = valid("missing");
        rewriteTensors(dir.resolve("model.safetensors"), t -> t.remove("model.layers.2.self_attn.k_proj.weight"));
        assertMentions(loadFails(dir), "missing/model.safetensors", "tensor model.layers.2.self_attn.k_proj.weight", "missing");

        Path extra = valid("extra");
        rewriteTensors(extra.resolve("model.safetensors"), t -> t.put("model.layers.3.mlp.up_proj.weight", Tensor.zeros(48, 32)));
        assertMentions(loadFails(extra), "extra/model.safetensors", "unexpected tensor model.layers.3.mlp.up_proj.weight");
    }

    @Test
    void unsupportedArchitectureAndDtypesAreNamed() throws IOException {
        Path dir = valid("gpt2");
        JsonObject json = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        json.add("architectures", JsonParser.parseString("[\"GPT2LMHeadModel\"]"));
        json.addProperty("model_type", "gpt2");
        Files.writeString(dir.resolve("config.json"), json.toString());
        assertMentions(loadFails(dir), "gpt2/config.json", "architectures", "GPT2LMHeadModel");

        Path f8 = valid("f8");
        Path file = f8.resolve("model.safetensors");
        String text = new String(Files.readAllBytes(file), java.nio.charset.StandardCharsets.ISO_8859_1);
        // Same byte size as F32 is not needed: the dtype is refused before sizes are checked.
        text = text.replaceFirst("\"model.norm.weight\":\\{\"dtype\":\"F32\"", "\"model.norm.weight\":{\"dtype\":\"C64\"");
        Files.write(file, text.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertMentions(loadFails(f8), "f8/model.safetensors", "tensor model.norm.weight", "C64");

        Path ints = valid("ints");
        rewriteTensors(ints.resolve("model.safetensors"), t -> t.put("model.norm.weight", Tensor.zeros(DType.INT32, Device.CPU, 32)));
        assertMentions(loadFails(ints), "ints/model.safetensors", "tensor model.norm.weight", "I32", "floating-point");

        assertMentions(assertThrows(CheckpointException.class, () -> Checkpoint.load(valid("long"), DType.INT64, Device.CPU)), "long", "int64");
    }

    @Test
    void missingFilesAreNamed() throws IOException {
        assertMentions(loadFails(tmp.resolve("nowhere")), "nowhere", "no such");
        Path dir = valid("noconfig");
        Files.delete(dir.resolve("config.json"));
        assertMentions(loadFails(dir), "noconfig", "no config.json");
        Path noWeights = valid("noweights");
        Files.delete(noWeights.resolve("model.safetensors"));
        assertMentions(loadFails(noWeights), "noweights", "model.safetensors", "model.safetensors.index.json");

        Path sharded = tmp.resolve("sharded");
        try (CausalLM model = CausalLM.random(tiny(Architecture.LLAMA, false), 4, 0.1, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, sharded, SaveOptions.defaults().withMaxShardBytes(20_000));
        }
        List<String> shards = listing(sharded).stream().filter(f -> f.startsWith("model-")).toList();
        Files.delete(sharded.resolve(shards.get(1)));
        assertMentions(loadFails(sharded), "model.safetensors.index.json", shards.get(1), "does not exist");
        Files.writeString(sharded.resolve(Checkpoint.INDEX_FILE), "{\"weight_map\": {\"lm_head.weight\": \"../x.safetensors\"}}");
        assertMentions(loadFails(sharded), "model.safetensors.index.json", "tensor lm_head.weight", "../x.safetensors");
        Files.writeString(sharded.resolve(Checkpoint.INDEX_FILE), "{\"weight_map\": {\"lm_head.weight\": \"" + shards.get(0) + "\"}}");
        assertMentions(loadFails(sharded), "model.safetensors.index.json", "tensor lm_head.weight", shards.get(0), "does not contain it");
        Files.writeString(sharded.resolve(Checkpoint.INDEX_FILE),
                "{\"weight_map\": {\"model.embed_tokens.weight\": \"" + shards.get(0) + "\"}}");
        assertMentions(loadFails(sharded), "model.safetensors.index.json", "tensor model.layers.0.", "is missing");
        Files.writeString(sharded.resolve(Checkpoint.INDEX_FILE), "{\"weight_map\": ");
        assertMentions(loadFails(sharded), "model.safetensors.index.json", "malformed JSON");
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "llama_tied", "llama_bf16", "qwen2", "qwen3"})
    void goldenFixturesLoad(String name) {
        Path dir = Path.of("tests/fixtures/golden").resolve(name);
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(dir), "fixture " + dir + " not generated");
        Checkpoint ck = Checkpoint.open(dir);
        try (CausalLM model = ck.loadModel(DType.FLOAT32, Device.CPU)) {
            assertEquals(ck.config().modelConfig(), model.config());
            float[] out = logits(model);
            assertEquals(10L * model.config().vocabSize(), out.length);
            for (float v : out) assertTrue(Float.isFinite(v));
        }
    }
}
