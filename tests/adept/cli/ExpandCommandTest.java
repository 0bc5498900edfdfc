package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.*;

import adept.expand.ExpansionMetadata;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.ConfigJson;
import adept.nn.CausalLM;
import adept.probe.LayerImportance;
import adept.probe.ProbeReport;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import adept.testing.TinyModel.Run;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExpandCommandTest {
    @TempDir
    static Path shared;
    static Path model;
    static Path importance;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() throws IOException {
        model = shared.resolve("tiny-qwen3");
        TinyModel.write(model, 11);
        Files.writeString(model.resolve("generation_config.json"), "{\"eos_token_id\": " + TinyModel.EOS + "}\n");
        Path probe = shared.resolve("probe.jsonl");
        TinyModel.writeProbe(probe);
        Run r = adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out",
                shared.resolve("probe").toString());
        assertEquals(0, r.exit(), r.err());
        importance = shared.resolve("probe").resolve("importance.json");
    }

    static Tensor logits(CausalLM lm) {
        long[] ids = {3, 5, 9, 2, 63, 0, 7, 7, 30, 12, 40, 41};
        Tensor mask = Tensor.of(new long[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 2, 6);
        return lm.forward(Tensor.of(ids, 2, 6), mask);
    }

    @Test
    void lowestKExpandsWithIdenticalLogitsAndRecordsTheExpansion() throws IOException {
        Path out = tmp.resolve("expanded");
        Run r = adept("expand", "--model", model.toString(), "--k", "2", "--importance", importance.toString(), "--out",
                out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("new  source  copy  trainable"), r.out());

        LayerImportance scores = ProbeReport.read(importance).importance();
        List<Integer> lowest = scores.lowest(2);
        Checkpoint ckpt = Checkpoint.open(out);
        assertEquals(TinyModel.LAYERS + 2, ckpt.config().modelConfig().numHiddenLayers());
        ExpansionMetadata meta = ExpansionMetadata.from(ckpt.metadata(), out.toString()).orElseThrow();
        assertEquals(lowest, meta.sources());
        assertEquals("lowest-dL", meta.method());
        assertEquals(2, meta.k());
        assertArrayEquals(scores.deltas(), meta.scores());
        List<Integer> copies = new ArrayList<>();
        for (int i = 0, at = 0; i < TinyModel.LAYERS; i++) {
            at++;
            if (lowest.contains(i)) copies.add(at++);
        }
        assertEquals(copies, meta.copyIndices());
        for (String name : meta.trainable()) {
            assertTrue(copies.stream().anyMatch(c -> name.startsWith("model.layers." + c + ".")), name);
        }
        assertEquals(2 * 11, meta.trainable().size());  // 11 tensors per Qwen3 layer (q/k norms included)
        ExpansionMetadata sidecar = ExpansionMetadata.parse(Files.readString(out.resolve(ExpansionMetadata.FILE_NAME)), "sidecar");
        assertEquals(meta, sidecar);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json")) assertTrue(Files.exists(out.resolve(f)), f);

        try (CausalLM before = Checkpoint.load(model, DType.FLOAT32, Device.CPU); CausalLM after = Checkpoint.load(out, DType.FLOAT32, Device.CPU);
             Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            assertEquals(TinyModel.LAYERS + 2, after.layers().size());
            double diff = logits(before).sub(logits(after)).abs().max().item();
            assertEquals(0.0, diff, "max |logits difference|");
            // the copies' o_proj and down_proj are zero, the rest equals the source
            for (int i = 0; i < copies.size(); i++) {
                Map<String, Tensor> copy = after.layers().get(copies.get(i)).parameters();
                Map<String, Tensor> src = before.layers().get(lowest.get(i)).parameters();
                assertEquals(0.0, copy.get("mlp.down_proj.weight").abs().max().item());
                assertEquals(0.0, copy.get("self_attn.o_proj.weight").abs().max().item());
                assertEquals(0.0, copy.get("self_attn.q_proj.weight").sub(src.get("self_attn.q_proj.weight")).abs().max().item());
            }
        }
    }

    @Test
    void explicitUniformAndAutoPlans() throws IOException {
        Path a = tmp.resolve("explicit");
        Run r = adept("expand", "--model", model.toString(), "--layers", "3,1", "--out", a.toString());
        assertEquals(0, r.exit(), r.err());
        ExpansionMetadata m = ExpansionMetadata.from(Checkpoint.open(a).metadata(), "a").orElseThrow();
        assertEquals(List.of(1, 3), m.sources());
        assertEquals(List.of(2, 5), m.copyIndices());
        assertNull(m.scores());

        Path b = tmp.resolve("uniform");
        r = adept("expand", "--model", model.toString(), "--uniform", "2", "--out", b.toString(), "--dtype", "bfloat16");
        assertEquals(0, r.exit(), r.err());
        Checkpoint cb = Checkpoint.open(b);
        assertEquals(List.of(1, 3), ExpansionMetadata.from(cb.metadata(), "b").orElseThrow().sources());
        assertEquals(DType.BFLOAT16, ConfigJson.read(b.resolve("config.json")).dtype());

        Path c = tmp.resolve("auto");
        r = adept("expand", "--model", model.toString(), "--k", "auto", "--budget", "0.3", "--importance", importance.toString(), "--out",
                c.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("within 30.0%"), r.out());
        ExpansionMetadata mc = ExpansionMetadata.from(Checkpoint.open(c).metadata(), "c").orElseThrow();
        assertEquals(ProbeReport.read(importance).importance().lowest(mc.k()), mc.sources());

        // an existing output folder is replaced only with --force
        adept("expand", "--model", model.toString(), "--layers", "0", "--out", a.toString()).assertUsageError("exists; pass --force");
        r = adept("expand", "--model", model.toString(), "--layers", "0", "--out", a.toString(), "--force");
        assertEquals(0, r.exit(), r.err());
        assertEquals(List.of(0), ExpansionMetadata.from(Checkpoint.open(a).metadata(), "a").orElseThrow().sources());
    }

    /** Runs expand into tmp/never with args, expecting it to fail without leaving the output folder or a temporary one behind. */
    private Run expandFails(String... args) {
        Path out = tmp.resolve("never");
        List<String> all = new ArrayList<>(List.of("expand", "--model", model.toString(), "--out", out.toString()));
        all.addAll(List.of(args));
        Run r = adept(all.toArray(String[]::new));
        assertNotEquals(0, r.exit(), r.out());
        assertFalse(Files.exists(out), "output folder left behind");
        try (var siblings = Files.list(tmp)) {
            assertEquals(List.of(), siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".never")).toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return r;
    }

    @Test
    void badK() {
        expandFails("--k", "0", "--importance", importance.toString()).assertUserError("K must be in 1..4, got 0");
        expandFails("--k", "5", "--importance", importance.toString()).assertUserError("K must be in 1..4, got 5");
        expandFails("--k", "two", "--importance", importance.toString()).assertUsageError("--k must be a whole number or auto");
        expandFails("--k", "2").assertUsageError("--k needs --importance");
        expandFails("--k", "2", "--importance", importance.toString(), "--budget", "0.2").assertUsageError("--budget applies only with --k auto");
        expandFails("--k", "auto", "--importance", importance.toString(), "--budget", "1.5").assertUserError("parameter budget must be in (0, 1)");
    }

    @Test
    void badLayers() {
        expandFails("--layers", "1,3,1").assertUserError("layer 1 is listed twice");
        expandFails("--layers", "0,4").assertUserError("layer 4 is out of range 0..3");
        expandFails("--layers", "-1").assertUserError("layer -1 is out of range 0..3");
        expandFails("--layers", "1,x").assertUsageError("'x' is not a layer number");
    }

    @Test
    void badUniform() {
        expandFails("--uniform", "0").assertUserError("P must be in 1..4, got 0");
        expandFails("--uniform", "5").assertUserError("P must be in 1..4, got 5");
    }

    @Test
    void selectionOptionsAreExclusive() {
        expandFails().assertUsageError("one of --k K");
        expandFails("--layers", "1", "--uniform", "2").assertUsageError("mutually exclusive");
        expandFails("--k", "2", "--importance", importance.toString(), "--layers", "1").assertUsageError("mutually exclusive");
    }

    @Test
    void badImportanceFiles() throws IOException {
        expandFails("--k", "2", "--importance", tmp.resolve("missing.json").toString()).assertUserError("no such importance file");
        Path garbled = tmp.resolve("garbled.json");
        Files.writeString(garbled, "{\"format\": \"adept.probe/1\", \"base_loss\": 1.0, ", StandardCharsets.UTF_8);
        expandFails("--k", "2", "--importance", garbled.toString()).assertUserError(garbled + ": malformed JSON");
        Path other = tmp.resolve("other.json");
        ProbeReport three = new ProbeReport("x", "now", "/m", "m", "Qwen3ForCausalLM", "float32", "cpu", "/p", 1, 1, 1, 1, 8, 0,
                new LayerImportance(1.0, new double[] {1.1, 1.2, 1.3}, 5), 2, Map.of());
        three.write(other);
        expandFails("--k", "2", "--importance", other.toString()).assertUserError("has scores for 3 layers but");
    }

    @Test
    void unwritableOutputIsACleanError() throws IOException {
        Path blocker = Files.writeString(tmp.resolve("blocker"), "a file, not a folder");
        adept("expand", "--model", model.toString(), "--layers", "1", "--out", blocker.resolve("expanded").toString())
                .assertUserError(blocker.resolve("expanded").toString());
    }

    @Test
    void outMustNotBeTheModel() {
        adept("expand", "--model", model.toString(), "--layers", "1", "--out", model.toString(), "--force").assertUsageError("must not be the model folder");
        assertTrue(Files.exists(model.resolve("model.safetensors")));
    }

    /** --model a symlink to --out, with --force: refused, the input survives (paths were compared without resolving links). */
    @Test
    void aModelThatIsASymlinkToOutIsNotDeleted(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path real = adept.testing.TinyModel.write(dir.resolve("real"), 1);
        Path link = Files.createSymbolicLink(dir.resolve("link"), real);
        adept.testing.TinyModel.adept("expand", "--model", link.toString(), "--layers", "1", "--out", real.toString(), "--force")
                .assertUsageError("--out must not be the model folder");
        assertTrue(Files.isRegularFile(real.resolve("model.safetensors")), "the input is still there");
    }

    /** The default keeps the stored dtype: F32 weights under "torch_dtype": "float16" stay F32 (1e6 is not rounded to inf). */
    @Test
    void theStoredDtypeIsKeptWhateverConfigJsonSays(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path model = TinyModel.write(dir.resolve("m"), adept.nn.Architecture.QWEN3, 1,
                m -> m.namedParameters().get("model.embed_tokens.weight").select(0, 5).fill(1e6));
        Path config = model.resolve("config.json");
        Files.writeString(config, Files.readString(config).replaceFirst("\"torch_dtype\": \"[a-z0-9]+\"", "\"torch_dtype\": \"float16\""));
        assertTrue(Files.readString(config).contains("\"torch_dtype\": \"float16\""), Files.readString(config));
        Path out = dir.resolve("x");
        Run r = adept("expand", "--model", model.toString(), "--layers", "1", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        Checkpoint expanded = Checkpoint.open(out);
        assertEquals(DType.FLOAT32, expanded.storedDType());
        try (CausalLM lm = expanded.loadModel(DType.FLOAT32, Device.CPU)) {
            assertEquals(1e6, lm.namedParameters().get("model.embed_tokens.weight").getDouble(5, 0), 0.0);
        }
    }
}
